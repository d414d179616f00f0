/**
 * bench:protocol: MerkleKV's text protocol against memcached's, same load, same machine, same run.
 *
 * Starts a node (RocksDB engine, temp data dir) and memcached (`-t 2`), preloads the same
 * keyspace into both, then drives GET and SET phases with the same closed-loop generator: N
 * connections, `depth` requests in flight each, uniform random keys, 100-byte values. Each
 * phase has an unrecorded warm-up and a measured window; rounds alternate which server goes
 * first, so a slow drift of the machine does not favour one side. Prints one JSON line:
 * ops/s and p50/p99 latency per server and operation, and the ratios ours/memcached.
 *
 * The generator runs in worker threads of this process, outside both servers, and the CPU it
 * used is reported (`loadgen_cpu`, in cores): when it nears one core per generator thread the
 * figure measures the generator as much as the server, memcached's first. Each server's CPU per
 * reply over its phases (`server_cpu_us_per_op`, from /proc; a node's split into its event loop,
 * RocksDB's background threads and the rest: the write thread, V8's helpers) says what a reply
 * cost the server, beside how many it served.
 *
 *   npm run bench:protocol -- --connections 50 --seconds 5 --rounds 2 --keys 10000 --value-bytes 100
 *
 * With `--tls` and/or `--auth`, a second node runs with TLS on its listeners (certificates made
 * for the run) and/or a configured user every connection signs in as, under the same load in
 * the same rounds; `secured_get_ratio` and `secured_set_ratio` compare it with the plain node.
 * `--protocol memcached` drives the nodes' memcached port instead of the MerkleKV one (how
 * bench:memcached measures TLS and sign-in, which memaslap does not speak).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { hashPassword } from '#config';
import { availableParallelism, loadavg } from 'node:os';
import { makeTempDir, makeTestCa, pem, removeDir, startMemcached, startNode, TextClient, type MemcachedServer, type NodeProcess } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { LatencyHistogram } from '../lib/histogram.js';
import { benchKey, benchValue, runLoad, runLoadInWorkers, summarize, type LoadOp, type LoadResult } from '../lib/loadgen.js';
import { type CpuPerOp, cpuPerOperation, measureThreadsCpu, type ThreadsCpu } from '../lib/proc-cpu.js';
import { protocols, type ProtocolName } from '../lib/protocols.js';

const GOAL = { get_ratio: 0.5, set_ratio: 0.3 } as const;
/** Secured (TLS, auth) over plain, same node build, same run. */
const SECURED_GOAL = 0.8;
const BENCH_USER = { user: 'bench', password: 'bench-password' };

const flags = benchCommandLine({
  bench: 'protocol',
  flags: {
    connections: { hint: 'N', description: 'TCP connections per server', default: '50' },
    depth: { hint: 'N', description: 'requests in flight per connection', default: '1' },
    seconds: { hint: 'S', description: 'measured seconds per phase and round', default: '5' },
    warmup: { hint: 'S', description: 'unrecorded seconds before each phase', default: '1' },
    rounds: { hint: 'N', description: 'rounds, alternating which server goes first', default: '2' },
    keys: { hint: 'N', description: 'keyspace size, preloaded into both servers', default: '10000' },
    'value-bytes': { hint: 'N', description: 'value size', default: '100' },
    threads: { hint: 'N', description: 'load generator worker threads (0: this thread)', default: '1' },
    'memcached-threads': { hint: 'N', description: 'memcached -t', default: '2' },
    'node-arg': { hint: 'ARG', description: 'extra node flag (e.g. --node-arg=--shards --node-arg=4)', multiple: true },
    tls: { hint: '', description: 'also measure a node with TLS on its listeners', switch: true },
    auth: { hint: '', description: 'also measure a node with a user every connection signs in as', switch: true },
    protocol: { hint: 'NAME', description: "the nodes' port to drive: merklekv or memcached", default: 'merklekv' },
  },
});

const nodeProtocol = ((name: string): ProtocolName => {
  if (name === 'merklekv' || name === 'memcached') return name;
  throw new Error(`--protocol must be merklekv or memcached, not ${JSON.stringify(name)}`);
})(flags.protocol);
/** The node's port for the protocol the run drives. */
const nodePort = (node: NodeProcess): number => {
  const port = nodeProtocol === 'memcached' ? node.ports.memcached : node.ports.merklekv;
  if (port === undefined) throw new Error(`node pid ${node.pid} has no ${nodeProtocol} port`);
  return port;
};

const settings = {
  connections: Math.floor(positive('connections', flags.connections)),
  depth: Math.floor(positive('depth', flags.depth)),
  seconds: positive('seconds', flags.seconds),
  warmup: positive('warmup', flags.warmup, true),
  rounds: Math.floor(positive('rounds', flags.rounds)),
  keys: Math.floor(positive('keys', flags.keys)),
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
  threads: Math.floor(positive('threads', flags.threads, true)),
  memcachedThreads: Math.floor(positive('memcached-threads', flags['memcached-threads'])),
  tls: flags.tls,
  auth: flags.auth,
  protocol: nodeProtocol,
};

const progress = (message: string): void => {
  process.stderr.write(`[bench:protocol] ${message}\n`);
};

type Label = 'memcached' | 'merklekv' | 'secured';

interface Target {
  readonly label: Label;
  readonly name: ProtocolName;
  readonly port: number;
  /** The server's process, whose CPU each phase reads. */
  readonly pid: number;
  readonly tlsCa?: string;
  readonly auth?: { readonly user: string; readonly password: string };
}

const access = (target: Target): Pick<Target, 'tlsCa' | 'auth'> => ({
  ...(target.tlsCa !== undefined && { tlsCa: target.tlsCa }),
  ...(target.auth !== undefined && { auth: target.auth }),
});

interface PhaseRun {
  readonly result: LoadResult;
  /** CPU the generator used, in cores, averaged over the phase. */
  readonly cpu: number;
  /** CPU seconds the server used over the whole phase, warm-up included (undefined without /proc). */
  readonly serverCpu: ThreadsCpu | undefined;
}

async function preload(target: Target): Promise<void> {
  const started = performance.now();
  const result = await runLoad({
    port: target.port,
    ...access(target),
    protocol: target.name,
    op: 'set',
    connections: Math.min(settings.connections, 16),
    keys: settings.keys,
    valueBytes: settings.valueBytes,
    requests: settings.keys,
  });
  if (result.errors > 0) throw new Error(`${target.label}: ${result.errors} errors while preloading`);
  progress(`${target.label}: preloaded ${settings.keys} keys in ${Math.round(performance.now() - started)} ms`);
}

/** One GET through a plain client, to check that the preload is readable before measuring. */
async function checkValue(target: Target): Promise<void> {
  const key = benchKey('bench:', 0);
  const expected = benchValue(0, settings.valueBytes).toString();
  await using client = await TextClient.connect(target.port, target.tlsCa !== undefined ? { tls: { ca: target.tlsCa } } : {});
  if (target.auth !== undefined) {
    const signIn = protocols[target.name].signIn(target.auth.user, target.auth.password);
    client.write(signIn.request);
    const reply = await client.readLine();
    if (`${reply}\r\n` !== signIn.accepted) throw new Error(`${target.label}: signing in answered ${JSON.stringify(reply)}`);
  }
  if (target.name === 'merklekv') {
    const reply = await client.request(`GET ${key}`);
    if (reply !== `VALUE ${expected}`) throw new Error(`merklekv: GET ${key} answered ${JSON.stringify(reply.slice(0, 200))}`);
  } else {
    client.send(`get ${key}`);
    const lines = await client.readUntil('END');
    if (lines[1] !== expected) throw new Error(`memcached: get ${key} answered ${JSON.stringify(lines)}`);
  }
}

async function phase(target: Target, op: LoadOp, round: number): Promise<PhaseRun> {
  const cpuBefore = process.cpuUsage();
  const serverCpuSince = measureThreadsCpu(target.pid);
  const wallBefore = performance.now();
  const result = await runLoadInWorkers(
    {
      port: target.port,
      ...access(target),
      protocol: target.name,
      op,
      connections: settings.connections,
      depth: settings.depth,
      keys: settings.keys,
      valueBytes: settings.valueBytes,
      warmupMs: settings.warmup * 1000,
      durationMs: settings.seconds * 1000,
      seed: round + 1,
    },
    settings.threads,
  );
  const serverCpu = serverCpuSince();
  const cpu = process.cpuUsage(cpuBefore);
  const cores = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  const s = summarize(result);
  progress(
    `round ${round + 1} ${target.label} ${op}: ${s.ops_s} ops/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, ` +
      `errors ${s.errors}, misses ${s.misses}, loadgen ${cores.toFixed(2)} cores`,
  );
  return { result, cpu: cores, serverCpu };
}

/** One server's figures for one operation, as the report prints them. */
type Figures = Record<string, number | number[] | CpuPerOp>;

/** Sequential rounds of one server and operation, as one figure: total ops over total time. */
function combine(label: Label, runs: readonly PhaseRun[]): Figures {
  const histogram = new LatencyHistogram();
  let ops = 0;
  let seconds = 0;
  let errors = 0;
  let misses = 0;
  for (const { result } of runs) {
    histogram.add(LatencyHistogram.fromSnapshot(result.histogram));
    ops += result.ops;
    seconds += result.seconds;
    errors += result.errors;
    misses += result.misses;
  }
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    ops_s: Math.round(ops / seconds),
    p50_ms: ms(histogram.percentile(0.5)),
    p99_ms: ms(histogram.percentile(0.99)),
    max_ms: ms(histogram.max),
    errors,
    misses,
    rounds_ops_s: runs.map((r) => Math.round(r.result.opsPerSec)),
    loadgen_cpu: Math.round(Math.max(...runs.map((r) => r.cpu)) * 100) / 100,
    ...serverCpuPerOp(label, runs),
  };
}

/**
 * The server's CPU per reply over the phases (warm-up and all: every reply the generator got), by
 * thread for a node (see ThreadsCpu); only the total for memcached, whose threads' names say
 * nothing of their work. What each reply cost the server, beside how many it served.
 */
function serverCpuPerOp(label: Label, runs: readonly PhaseRun[]): { server_cpu_us_per_op?: CpuPerOp } {
  const replies = runs.reduce((sum, r) => sum + r.result.replies, 0);
  const perOp = cpuPerOperation(runs.map((r) => r.serverCpu), replies, label !== 'memcached');
  return perOp === undefined ? {} : { server_cpu_us_per_op: perOp };
}

function prefixed(op: LoadOp, figures: Figures): Figures {
  return Object.fromEntries(Object.entries(figures).map(([k, v]) => [`${op}_${k}`, v]));
}

async function main(): Promise<void> {
  progress(`settings ${JSON.stringify(settings)}`);
  const live: { memcached?: MemcachedServer; node?: NodeProcess; secured?: NodeProcess } = {};
  onInterrupt('protocol', () => {
    for (const pid of [live.memcached?.pid, live.node?.pid, live.secured?.pid]) if (pid !== undefined) killQuietly(pid);
    for (const node of [live.node, live.secured]) if (node !== undefined) rmSync(node.dataDir, { recursive: true, force: true });
  });

  await using mc = await startMemcached({ threads: settings.memcachedThreads, memoryMb: 256 });
  live.memcached = mc;
  progress(`memcached pid ${mc.pid} on port ${mc.port}`);
  await using kv = await startNode({ args: ['--engine', 'rocksdb', ...flags['node-arg']], readyTimeoutMs: 30_000 });
  live.node = kv;
  progress(`node pid ${kv.pid} on port ${nodePort(kv)} (${settings.protocol}), data dir ${kv.dataDir}`);
  await using secured = settings.tls || settings.auth ? await startSecuredNode(live) : undefined;

  const targets: Target[] = [
    { label: 'memcached', name: 'memcached', port: mc.port, pid: mc.pid },
    { label: 'merklekv', name: settings.protocol, port: nodePort(kv), pid: kv.pid },
    ...(secured ? [secured.target] : []),
  ];
  for (const target of targets) {
    await preload(target);
    await checkValue(target);
  }

  const runs = new Map<Label, Record<LoadOp, PhaseRun[]>>(targets.map((t) => [t.label, { get: [], set: [] }]));
  for (let round = 0; round < settings.rounds; round += 1) {
    // Each round starts with another server, so a drift of the machine favours none.
    const order = targets.map((_, i) => targets[(i + round) % targets.length]!);
    for (const op of ['get', 'set'] as const) {
      for (const target of order) runs.get(target.label)![op].push(await phase(target, op, round));
    }
  }

  const figuresOf = (label: Label): Record<LoadOp, Figures> => {
    const byOp = runs.get(label)!;
    return { get: combine(label, byOp.get), set: combine(label, byOp.set) };
  };
  const figures: Partial<Record<Label, Record<LoadOp, Figures>>> = Object.fromEntries(targets.map((t) => [t.label, figuresOf(t.label)]));
  const ratio = (of: Label, to: Label, op: LoadOp): number => Math.round(((figures[of]![op]['ops_s'] as number) / (figures[to]![op]['ops_s'] as number)) * 1000) / 1000;
  const getRatio = ratio('merklekv', 'memcached', 'get');
  const setRatio = ratio('merklekv', 'memcached', 'set');
  const securedReport = secured
    ? {
        secured: { tls: settings.tls, auth: settings.auth, ...prefixed('get', figures.secured!.get), ...prefixed('set', figures.secured!.set) },
        secured_get_ratio: ratio('secured', 'merklekv', 'get'),
        secured_set_ratio: ratio('secured', 'merklekv', 'set'),
        secured_goal: SECURED_GOAL,
        secured_goal_met: ratio('secured', 'merklekv', 'get') >= SECURED_GOAL && ratio('secured', 'merklekv', 'set') >= SECURED_GOAL,
      }
    : {};
  const report = {
    bench: 'protocol',
    protocol: settings.protocol,
    connections: settings.connections,
    depth: settings.depth,
    value_bytes: settings.valueBytes,
    keys: settings.keys,
    seconds: settings.seconds,
    warmup_s: settings.warmup,
    rounds: settings.rounds,
    loadgen_threads: settings.threads,
    cpus: availableParallelism(),
    // Other work on the machine skews both servers; the load average at the end says how busy it was.
    loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    merklekv: { ...prefixed('get', figures.merklekv!.get), ...prefixed('set', figures.merklekv!.set) },
    memcached: { ...prefixed('get', figures.memcached!.get), ...prefixed('set', figures.memcached!.set) },
    get_ratio: getRatio,
    set_ratio: setRatio,
    goal: GOAL,
    goal_met: { get: getRatio >= GOAL.get_ratio, set: setRatio >= GOAL.set_ratio },
    ...securedReport,
  };

  const bad = Object.entries(figures).flatMap(([name, byOp]) =>
    Object.entries(byOp)
      .filter(([, f]) => (f['errors'] as number) > 0 || (f['misses'] as number) > 0)
      .map(([op, f]) => `${name} ${op}: ${String(f['errors'])} errors, ${String(f['misses'])} misses`),
  );
  if (bad.length > 0) {
    progress(`invalid run: ${bad.join('; ')}`);
    process.exitCode = 1;
  }
  progress('stopping the servers');
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

/** The second node: TLS with certificates made for this run, and/or a user to sign in as. */
async function startSecuredNode(live: { secured?: NodeProcess }): Promise<{ target: Target } & AsyncDisposable> {
  const dir = await makeTempDir('bench-secured');
  const args = ['--engine', 'rocksdb', ...flags['node-arg']];
  let tlsCa: string | undefined;
  if (settings.tls) {
    const ca = makeTestCa(dir, 'bench');
    const server = ca.issue('server', { server: true });
    args.push('--tls-cert', server.cert, '--tls-key', server.key);
    tlsCa = pem(ca.cert);
  }
  if (settings.auth) {
    const config = join(dir, 'users.toml');
    const hash = await hashPassword(BENCH_USER.password);
    writeFileSync(config, `[[users]]\nname = "${BENCH_USER.user}"\npassword_hash = "${hash}"\npermissions = [{ prefix = "", access = "write" }]\n`);
    args.push('--config', config);
  }
  const node = await startNode({ args, readyTimeoutMs: 30_000 });
  live.secured = node;
  progress(`secured node (tls ${settings.tls}, auth ${settings.auth}) pid ${node.pid} on port ${nodePort(node)}`);
  return {
    target: { label: 'secured', name: settings.protocol, port: nodePort(node), pid: node.pid, ...(tlsCa !== undefined && { tlsCa }), ...(settings.auth && { auth: BENCH_USER }) },
    async [Symbol.asyncDispose]() {
      await node[Symbol.asyncDispose]();
      await removeDir(dir);
    },
  };
}

runBench('protocol', main);
