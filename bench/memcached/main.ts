/**
 * bench:memcached: the node's memcached port against memcached itself, driven by the same
 * external load generator, memaslap (Debian's libmemcached-tools installs it as `memcaslap`).
 *
 * Starts a node (RocksDB engine, temp data dir) and memcached (`-t 2`), both on ephemeral ports,
 * then runs memaslap (`-T 1 -c 50 -X 100`, data verification on) against each for two mixes,
 * 90% get / 10% set and 10% get / 90% set. Rounds alternate which server goes first, so a drift
 * of the machine's load does not favour one side. Prints one JSON line: TPS per server and mix
 * (total operations over total time of its rounds), memaslap's own error and verification
 * counts, and the ratios ours/memcached. With them, each server's CPU per operation over its runs
 * (`server_cpu_us_per_op`, from /proc; the node's split as bench:protocol's): what an operation
 * cost the server, beside how many it served.
 *
 *   npm run bench:memcached -- --seconds 5 --rounds 2
 *
 * With `--tls` and/or `--auth` it also measures a node with TLS on its listeners and/or a user
 * every connection signs in as (memcached's ASCII authentication) against a plain node, on the
 * memcached port. memaslap speaks neither TLS nor authentication, so that comparison runs
 * bench:protocol's generator (`bench:protocol --protocol memcached`) and reports its ratios.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMemcached, startNode, type MemcachedServer, type NodeProcess } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { type CpuPerOp, cpuPerOperation, measureThreadsCpu, type ThreadsCpu } from '../lib/proc-cpu.js';

const GOAL = { ratio_90_10: 0.5, ratio_10_90: 0.3 } as const;

const flags = benchCommandLine({
  bench: 'memcached',
  flags: {
    seconds: { hint: 'S', description: 'seconds of each memaslap run (one server, one mix, one round)', default: '5' },
    rounds: { hint: 'N', description: 'rounds, alternating which server goes first', default: '2' },
    concurrency: { hint: 'N', description: 'memaslap -c: concurrent connections', default: '50' },
    threads: { hint: 'N', description: 'memaslap -T: its threads', default: '1' },
    'value-bytes': { hint: 'N', description: 'memaslap -X: value size', default: '100' },
    verify: { hint: 'P', description: 'memaslap --verify: share of gets whose value it checks', default: '0.1' },
    'memcached-threads': { hint: 'N', description: 'memcached -t', default: '2' },
    memaslap: { hint: 'PATH', description: 'the load generator', default: 'memcaslap' },
    tls: { hint: '', description: 'also compare a node with TLS on its listeners with a plain one (bench:protocol generator)', switch: true },
    auth: { hint: '', description: 'also compare a node whose connections sign in with a plain one (bench:protocol generator)', switch: true },
  },
  notes: ['Needs memcached and memaslap on the PATH (Debian: memcached, libmemcached-tools). Progress on stderr, one JSON line on stdout.'],
});

const settings = {
  seconds: Math.floor(positive('seconds', flags.seconds)),
  rounds: Math.floor(positive('rounds', flags.rounds)),
  concurrency: Math.floor(positive('concurrency', flags.concurrency)),
  threads: Math.floor(positive('threads', flags.threads)),
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
  verify: positive('verify', flags.verify, true),
  memcachedThreads: Math.floor(positive('memcached-threads', flags['memcached-threads'])),
  memaslap: flags.memaslap,
  tls: flags.tls,
  auth: flags.auth,
};

const MIXES = [
  { name: '90_10', get: 0.9, set: 0.1 },
  { name: '10_90', get: 0.1, set: 0.9 },
] as const;
type MixName = (typeof MIXES)[number]['name'];
type ServerName = 'merklekv' | 'memcached';

/** One server's figures for one mix, as the report prints them. */
interface Summary {
  readonly tps: number;
  readonly errors: number;
  readonly verify_failed: number;
  readonly get_misses: number;
  readonly server_cpu_us_per_op?: CpuPerOp;
}

const progress = (message: string): void => {
  process.stderr.write(`[bench:memcached] ${message}\n`);
};

/** What one memaslap run reports. */
interface Run {
  readonly ops: number;
  readonly seconds: number;
  /** Replies memaslap could not take (it prints each with a leading `<`). */
  readonly errors: number;
  readonly verifyFailed: number;
  readonly getMisses: number;
  /** CPU seconds the server used during the run (undefined without /proc). */
  readonly serverCpu?: ThreadsCpu;
}

const figure = (output: string, name: string): number => Number(new RegExp(`^${name}: (\\d+)`, 'm').exec(output)?.[1] ?? 'NaN');

function memaslap(port: number, config: string): Promise<Run> {
  const args = ['-s', `127.0.0.1:${port}`, '-T', String(settings.threads), '-c', String(settings.concurrency), '-X', String(settings.valueBytes), '-F', config, '-t', `${settings.seconds}s`];
  if (settings.verify > 0) args.push(`--verify=${settings.verify}`);
  return new Promise((resolve, reject) => {
    const child = spawn(settings.memaslap, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('latin1')));
    const deadline = setTimeout(() => child.kill('SIGKILL'), (settings.seconds + 60) * 1000);
    child.once('error', (err) => {
      clearTimeout(deadline);
      reject(new Error(`${settings.memaslap} could not be started (${err.message}); Debian package: libmemcached-tools`));
    });
    child.once('close', (code) => {
      clearTimeout(deadline);
      const summary = /Run time: ([\d.]+)s Ops: (\d+) TPS: (\d+)/.exec(output);
      if (code !== 0 || !summary) {
        reject(new Error(`${settings.memaslap} exited with ${String(code)}: ${output.slice(-500)}`));
        return;
      }
      resolve({
        ops: Number(summary[2]),
        seconds: Number(summary[1]),
        errors: output.split('\n').filter((line) => line.startsWith('<')).length,
        verifyFailed: figure(output, 'verify_failed'),
        getMisses: figure(output, 'get_misses'),
      });
    });
  });
}

/** The secured node over the plain one on the memcached port, measured by bench:protocol in a child process. */
function securedComparison(): Promise<Record<string, unknown>> {
  const args = [
    join(dirname(fileURLToPath(import.meta.url)), '..', 'protocol', 'main.js'),
    '--protocol', 'memcached',
    '--connections', String(settings.concurrency),
    '--seconds', String(settings.seconds),
    '--rounds', String(settings.rounds),
    '--value-bytes', String(settings.valueBytes),
    ...(settings.tls ? ['--tls'] : []),
    ...(settings.auth ? ['--auth'] : []),
  ];
  progress(`secured comparison: bench:protocol ${args.slice(1).join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout) => {
      if (error) {
        reject(new Error(`bench:protocol --protocol memcached failed: ${error.message}`));
        return;
      }
      const report = JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, unknown>;
      resolve({
        load_generator: `bench:protocol --protocol memcached (${String(report['connections'])} connections, depth ${String(report['depth'])})`,
        tls: settings.tls,
        auth: settings.auth,
        plain_get_ops_s: (report['merklekv'] as Record<string, unknown>)['get_ops_s'],
        plain_set_ops_s: (report['merklekv'] as Record<string, unknown>)['set_ops_s'],
        secured_get_ops_s: (report['secured'] as Record<string, unknown>)['get_ops_s'],
        secured_set_ops_s: (report['secured'] as Record<string, unknown>)['set_ops_s'],
        get_ratio: report['secured_get_ratio'],
        set_ratio: report['secured_set_ratio'],
        goal: report['secured_goal'],
        goal_met: report['secured_goal_met'],
      });
    });
    child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  });
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'merklekv-bench-memcached-'));
  const configs = new Map<MixName, string>();
  for (const mix of MIXES) {
    const path = join(dir, `${mix.name}.cfg`);
    // memaslap's config: key and value sizes with their shares, then command shares (0 set, 1 get).
    writeFileSync(path, `key\n16 16 1\nvalue\n${settings.valueBytes} ${settings.valueBytes} 1\ncmd\n0 ${mix.set}\n1 ${mix.get}\n`);
    configs.set(mix.name, path);
  }

  let node: NodeProcess | undefined;
  let memcached: MemcachedServer | undefined;
  onInterrupt('memcached', () => {
    if (node) {
      killQuietly(node.pid);
      rmSync(node.dataDir, { recursive: true, force: true });
    }
    if (memcached) killQuietly(memcached.pid);
    rmSync(dir, { recursive: true, force: true });
  });
  try {
    node = await startNode({ tempLabel: 'bench-memcached' });
    memcached = await startMemcached({ threads: settings.memcachedThreads });
    const ports: Record<ServerName, number> = { merklekv: node.ports.memcached!, memcached: memcached.port };
    const pids: Record<ServerName, number> = { merklekv: node.pid, memcached: memcached.pid };
    progress(`node memcached port ${ports.merklekv}, memcached ${ports.memcached}`);

    const runs: Record<ServerName, Record<MixName, Run[]>> = {
      merklekv: { '90_10': [], '10_90': [] },
      memcached: { '90_10': [], '10_90': [] },
    };
    for (let round = 0; round < settings.rounds; round++) {
      const order: ServerName[] = round % 2 === 0 ? ['memcached', 'merklekv'] : ['merklekv', 'memcached'];
      for (const mix of MIXES) {
        for (const server of order) {
          const serverCpuSince = measureThreadsCpu(pids[server]);
          const measured = await memaslap(ports[server], configs.get(mix.name)!);
          const serverCpu = serverCpuSince();
          const run: Run = serverCpu === undefined ? measured : { ...measured, serverCpu };
          runs[server][mix.name].push(run);
          progress(
            `round ${round + 1} ${server} ${mix.name}: ${Math.round(run.ops / run.seconds)} TPS, errors ${run.errors}, ` +
              `verify_failed ${run.verifyFailed}, get_misses ${run.getMisses}`,
          );
        }
      }
    }

    const summary = (server: ServerName, mix: MixName): Summary => {
      const all = runs[server][mix];
      const ops = all.reduce((sum, r) => sum + r.ops, 0);
      const seconds = all.reduce((sum, r) => sum + r.seconds, 0);
      // memcached's threads' names say nothing of their work: its total only.
      const perOp = cpuPerOperation(all.map((r) => r.serverCpu), ops, server !== 'memcached');
      return {
        tps: Math.round(ops / seconds),
        errors: all.reduce((sum, r) => sum + r.errors, 0),
        verify_failed: all.reduce((sum, r) => sum + r.verifyFailed, 0),
        get_misses: all.reduce((sum, r) => sum + r.getMisses, 0),
        ...(perOp && { server_cpu_us_per_op: perOp }),
      };
    };
    const figures = Object.fromEntries(
      (['merklekv', 'memcached'] as const).map((server) => [server, Object.fromEntries(MIXES.map((mix) => [mix.name, summary(server, mix.name)]))]),
    ) as Record<ServerName, Record<MixName, Summary>>;
    const ratio = (mix: MixName): number => Math.round((figures.merklekv[mix].tps / figures.memcached[mix].tps) * 1000) / 1000;
    const ratios = { ratio_90_10: ratio('90_10'), ratio_10_90: ratio('10_90') };
    const secured = settings.tls || settings.auth ? { secured: await securedComparison() } : {};
    const report = {
      bench: 'memcached',
      load_generator: `memaslap -T ${settings.threads} -c ${settings.concurrency} -X ${settings.valueBytes} --verify=${settings.verify}`,
      memcached_threads: settings.memcachedThreads,
      seconds: settings.seconds,
      rounds: settings.rounds,
      cpus: availableParallelism(),
      // Other work on the machine skews both servers; the load average at the end says how busy it was.
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      merklekv: figures.merklekv,
      memcached: figures.memcached,
      ...ratios,
      goal: GOAL,
      goal_met: { '90_10': ratios.ratio_90_10 >= GOAL.ratio_90_10, '10_90': ratios.ratio_10_90 >= GOAL.ratio_10_90 },
      ...secured,
    };
    const bad = (['merklekv', 'memcached'] as const).flatMap((server) =>
      MIXES.filter((mix) => figures[server][mix.name].errors > 0 || figures[server][mix.name].verify_failed > 0).map((mix) => `${server} ${mix.name}`),
    );
    if (bad.length > 0) {
      progress(`invalid run: errors or failed verifications in ${bad.join(', ')}`);
      process.exitCode = 1;
    }
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    progress('stopping the servers');
    // Disposing the node also removes its temp data dir (stop alone would leave it behind).
    await Promise.allSettled([node?.[Symbol.asyncDispose](), memcached?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench('memcached', main);
