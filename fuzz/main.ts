/**
 * `npm run fuzz -- --runs N [--target name]...`: runs every fuzz target (or the named ones) with
 * N generated inputs each, one child process per target, and prints per target its runs, time,
 * peak RSS and failures (with the shrunk counterexample) as one JSON line on stdout; progress
 * goes to stderr. Exit code 1 when a target failed, 2 on a bad command line.
 *
 * Why a child per target: its peak RSS is its own (process.resourceUsage), a crash or an
 * out-of-memory death (the heap is capped) is reported instead of ending the run, and a hang is
 * caught by the parent: a child reports after every batch of inputs, and one that stays silent
 * for --stall-seconds is killed and reported with the seed of the batch it was in. Batch i of a
 * target runs with seed + i, so a failure replays with `--seed <its batch seed> --runs <batch>`.
 */
import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';

import fc from 'fast-check';

import { type FuzzTarget } from './target.js';
import { FUZZ_TARGETS } from './targets.js';

const USAGE = `usage: npm run fuzz -- [flags]
  --runs N            inputs per target (default 10000)
  --target NAME       run only this target; repeatable (${FUZZ_TARGETS.map((t) => t.name).join(', ')})
  --seed N            base seed (default: random, printed); batch i of a target uses seed + i
  --batch N           inputs per batch: the unit of progress and of replay (default 10000)
  --jobs N            targets run at once (default: available CPUs)
  --stall-seconds N   a target silent this long is killed and reported as hung (default 300)
  --max-heap-mib N    heap limit of each target's process (default 2048)
  -h, --help          print this and exit
`;

interface Options {
  readonly runs: number;
  readonly targets: readonly FuzzTarget[];
  readonly seed: number;
  readonly batch: number;
  readonly jobs: number;
  readonly stallSeconds: number;
  readonly maxHeapMib: number;
}

interface Failure {
  readonly kind: 'property' | 'hang' | 'crash';
  readonly seed?: number;
  /** fast-check's path of the failing run within its batch (replay: { seed, path }). */
  readonly path?: string;
  readonly counterexample?: string;
  readonly error: string;
}

/** Messages from a target's child process. */
type ChildMessage =
  | { readonly type: 'progress'; readonly runs: number; readonly rssMiB: number }
  | { readonly type: 'done'; readonly runs: number; readonly failure: Failure | null; readonly peakRssMiB: number; readonly heapUsedMiB: number };

interface TargetReport {
  readonly target: string;
  readonly claim: string;
  readonly runs: number;
  readonly seconds: number;
  readonly runsPerSecond: number;
  /** Peak resident set size of the target's process. */
  readonly peakRssMiB: number;
  /** RSS after the first batch and after the last one: a leak shows as growth between them. */
  readonly rssFirstBatchMiB: number | null;
  readonly rssLastBatchMiB: number | null;
  readonly failures: readonly Failure[];
}

const MIB = 1024 * 1024;
const round = (n: number, digits = 1): number => Number(n.toFixed(digits));
/** Long counterexamples (a 1 MiB line) are cut: the seed and path replay them whole. */
const clip = (text: string, max = 4000): string => (text.length <= max ? text : `${text.slice(0, max)}... (${text.length} characters)`);

function parseCommandLine(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      runs: { type: 'string', default: '10000' },
      target: { type: 'string', multiple: true, default: [] },
      seed: { type: 'string' },
      batch: { type: 'string', default: '10000' },
      jobs: { type: 'string', default: String(availableParallelism()) },
      'stall-seconds': { type: 'string', default: '300' },
      'max-heap-mib': { type: 'string', default: '2048' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const count = (name: string, text: string | undefined): number => {
    const n = Number(text);
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got ${JSON.stringify(text)}`);
    return n;
  };
  const unknown = values.target.filter((name) => !FUZZ_TARGETS.some((t) => t.name === name));
  if (unknown.length > 0) throw new Error(`no target ${unknown.join(', ')}: the targets are ${FUZZ_TARGETS.map((t) => t.name).join(', ')}`);
  return {
    runs: count('runs', values.runs),
    targets: values.target.length === 0 ? FUZZ_TARGETS : FUZZ_TARGETS.filter((t) => values.target.includes(t.name)),
    seed: values.seed === undefined ? Math.floor(Math.random() * 0x7fff_ffff) : count('seed', values.seed),
    batch: count('batch', values.batch),
    jobs: count('jobs', values.jobs),
    stallSeconds: count('stall-seconds', values['stall-seconds']),
    maxHeapMib: count('max-heap-mib', values['max-heap-mib']),
  };
}

// --- the child: one target ---------------------------------------------------------------------

async function runChild(name: string, runs: number, seed: number, batch: number): Promise<void> {
  const target = FUZZ_TARGETS.find((t) => t.name === name);
  if (target === undefined) throw new Error(`no target ${name}`);
  const send = (message: ChildMessage): Promise<void> => new Promise((done) => process.send!(message, () => done()));
  const property = target.property();
  let done = 0;
  let failure: Failure | null = null;
  for (let i = 0; done < runs; i++) {
    const numRuns = Math.min(batch, runs - done);
    const details = fc.check(property, { numRuns, seed: seed + i });
    done += details.numRuns;
    if (details.failed) {
      failure = {
        kind: 'property',
        seed: seed + i,
        path: details.counterexamplePath ?? '',
        counterexample: clip(fc.stringify(details.counterexample)),
        error: clip(details.errorInstance instanceof Error ? `${details.errorInstance.name}: ${details.errorInstance.message}` : String(details.errorInstance)),
      };
      break;
    }
    // Awaiting the send lets the parent see progress (and its silence mean a hang).
    await send({ type: 'progress', runs: done, rssMiB: round(process.memoryUsage().rss / MIB) });
  }
  await send({
    type: 'done',
    runs: done,
    failure,
    peakRssMiB: round((process.resourceUsage().maxRSS * 1024) / MIB),
    heapUsedMiB: round(process.memoryUsage().heapUsed / MIB),
  });
  process.disconnect();
}

// --- the parent: every target ------------------------------------------------------------------

function runTarget(target: FuzzTarget, options: Options): Promise<TargetReport> {
  const started = performance.now();
  const child = fork(
    new URL(import.meta.url).pathname,
    ['--child', target.name, String(options.runs), String(options.seed), String(options.batch)],
    { execArgv: [`--max-old-space-size=${options.maxHeapMib}`], stdio: ['ignore', 'inherit', 'pipe', 'ipc'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString('utf8')).slice(-4000)));
  let runs = 0;
  let rssFirst: number | null = null;
  let rssLast: number | null = null;
  let result: Extract<ChildMessage, { type: 'done' }> | null = null;
  let hung: Failure | null = null;
  let lastReport = 0;

  const stall = (): NodeJS.Timeout =>
    setTimeout(() => {
      const batchIndex = Math.floor(runs / options.batch);
      hung = {
        kind: 'hang',
        seed: options.seed + batchIndex,
        error: `no progress for ${options.stallSeconds} s after ${runs} runs: killed; replay with --seed ${options.seed + batchIndex} --runs ${options.batch} --target ${target.name}`,
      };
      child.kill('SIGKILL');
    }, options.stallSeconds * 1000);
  let watchdog = stall();

  child.on('message', (message: ChildMessage) => {
    clearTimeout(watchdog);
    watchdog = stall();
    if (message.type === 'progress') {
      runs = message.runs;
      rssFirst ??= message.rssMiB;
      rssLast = message.rssMiB;
      const now = performance.now();
      if (now - lastReport > 10_000 || runs === options.runs) {
        lastReport = now;
        const seconds = (now - started) / 1000;
        process.stderr.write(`[fuzz] ${target.name}: ${runs}/${options.runs} runs, ${round(seconds)} s, rss ${message.rssMiB} MiB\n`);
      }
    } else {
      result = message;
      runs = message.runs;
    }
  });

  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      const seconds = (performance.now() - started) / 1000;
      const failures: Failure[] = [];
      const done = result as Extract<ChildMessage, { type: 'done' }> | null;
      if (hung !== null) failures.push(hung);
      else if (done === null || code !== 0) {
        failures.push({
          kind: 'crash',
          seed: options.seed + Math.floor(runs / options.batch),
          error: `the target's process exited (${signal ?? `code ${code}`}) after ${runs} runs: ${stderr.trim().split('\n').slice(-5).join(' | ')}`,
        });
      }
      if (done?.failure) failures.push(done.failure);
      resolve({
        target: target.name,
        claim: target.claim,
        runs,
        seconds: round(seconds),
        runsPerSecond: Math.round(runs / Math.max(seconds, 0.001)),
        peakRssMiB: done?.peakRssMiB ?? 0,
        rssFirstBatchMiB: rssFirst,
        rssLastBatchMiB: rssLast,
        failures,
      });
    });
  });
}

async function runAll(options: Options): Promise<void> {
  const started = performance.now();
  process.stderr.write(`[fuzz] ${options.targets.length} targets x ${options.runs} runs, seed ${options.seed}, ${options.jobs} at once\n`);
  const queue = [...options.targets];
  const reports = new Map<string, TargetReport>();
  const worker = async (): Promise<void> => {
    for (let target = queue.shift(); target !== undefined; target = queue.shift()) {
      const report = await runTarget(target, options);
      reports.set(target.name, report);
      const verdict = report.failures.length === 0 ? 'ok' : `FAILED (${report.failures.map((f) => f.kind).join(', ')})`;
      process.stderr.write(`[fuzz] ${target.name}: ${verdict}, ${report.runs} runs in ${report.seconds} s, peak rss ${report.peakRssMiB} MiB\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.jobs, options.targets.length) }, worker));
  const targets = options.targets.map((t) => reports.get(t.name)!);
  const ok = targets.every((r) => r.failures.length === 0);
  const summary = { fuzz: ok ? 'ok' : 'failed', runsPerTarget: options.runs, seed: options.seed, batch: options.batch, seconds: round((performance.now() - started) / 1000), targets };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (!ok) process.exitCode = 1;
}

const args = process.argv.slice(2);
if (args[0] === '--child') {
  const [, name, runs, seed, batch] = args;
  runChild(name!, Number(runs), Number(seed), Number(batch)).catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
} else {
  let options: Options;
  try {
    options = parseCommandLine(args);
  } catch (err) {
    process.stderr.write(`fuzz: ${err instanceof Error ? err.message : String(err)} (see --help)\n`);
    process.exit(2);
  }
  await runAll(options);
}
