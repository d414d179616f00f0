/**
 * bench:capacity: how a node holds a data set much larger than its heap should: memory as the
 * data grows, write amplification, bytes on disk, restart and crash-recovery times, and whether
 * every value survives. The acceptance measure of "disk-first storage".
 *
 * 1. Reference: a node on a fresh, empty data dir (RocksDB engine): spawn → MerkleKV port up
 *    (the ready line) and → a first GET answered; stopped with SIGTERM and started again on that
 *    dir, the same two timings. Restart times below are read against these, measured in the
 *    same run on the same machine.
 * 2. Fill: another node on its own temp data dir gets `--keys` keys through pipelined
 *    `MSET k1 v1 k2 v2 …` (`--pairs-per-mset` pairs, `--depth` lines in flight on each of
 *    `--connections` connections). Key i is `k` + i in 10 digits, its value `--value-bytes`
 *    printable characters drawn from a PRNG seeded with i (see dataset.ts), written in a
 *    scattered order. Every reply must be `OK`. Node RSS (/proc/<pid>/status) and the parts of
 *    its memory it reports on /metrics (MEMORY_METRICS: heap, external, RocksDB's) are taken at
 *    10%, 50% and 100% of the fill; the node's /proc/<pid>/io `write_bytes` before and after
 *    gives the write amplification (disk bytes written / key and value bytes sent; `_net` leaves out
 *    `cancelled_write_bytes`, pages dirtied but spared by deleting their file); the data dir's
 *    file sizes after the fill give bytes on disk per key.
 * 3. SIGTERM, restart on the same dir: time to the port and to a first correct GET.
 * 4. MSETs rewriting keys of the data set with their own values are kept in flight while the
 *    node is SIGKILLed; restart: the same two timings, WAL replay included. The rewrites carry
 *    the values the keys already hold, so whichever of them landed, the data set is unchanged.
 * 5. 10,000 GETs of random keys (pipelined), each value checked; DBSIZE must equal `--keys`.
 * 6. Anti-entropy between two full nodes (`--sync-divergence` of the keys differing; 0 skips
 *    it): the stopped node's data dir is copied, and the copy, started alone under a node id
 *    of its own, rewrites that share of the keys, scattered, with the values they hold: the
 *    same values under newer stamps, entries that differ as concurrent writes would, while every
 *    value stays the one the data set says (written standalone, they are in no outbox). Then
 *    both start as two nodes of one cluster (a nats-server of their own; periodic rounds off, so
 *    that nothing repairs the drift but the sessions measured), and `SYNC` on the copy runs
 *    sessions with the original until one finds nothing left (the sessions compare full
 *    roots), while both nodes' RSS is sampled every 100 ms; the copy's INFO says what the
 *    sessions moved. Goals: SYNC answers OK (a failure is reported, not fatal), and both
 *    nodes' peak RSS stays within the capacity goal.
 *
 * A 20M-key fill takes about an hour here, phase 6 a few minutes: `--keep-pair DIR` keeps the
 * two stopped nodes' data dirs as phase 6 is about to SYNC them (DIR/original, DIR/copy, and
 * DIR/pair.json with what the goals need of the fill), and `--pair DIR` runs phase 6 alone on
 * copies of them (the pair itself stays as it was, for the next run).
 *
 * Prints one JSON line on stdout, with a `goals` object: each goal of the issue with the value
 * measured and whether it is met. Wrong or missing values, a DBSIZE off, or any failed MSET
 * make the run invalid (exit code 1); a goal that is not met does not.
 *
 *   npm run bench:capacity -- --keys 200000
 */
import { existsSync, rmSync } from 'node:fs';
import { cp, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { MERKLEKV_MAX_LINE_BYTES } from '#protocol';
import { makeTempDir, type NatsServer, removeDir, startNatsServer, startNode, TextClient, type NodeProcess, type ProcessExit } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { measureProcessesCpu } from '../lib/proc-cpu.js';
import { directoryBytes, processIo, processRssBytes, type ProcessIo } from '../lib/proc-status.js';
import { metricValue, scrapeMetrics } from '../lib/prometheus.js';
import { capacityKey, capacityValue, FillOrder, KEY_BYTES, msetLineBytes, sampleIndices } from './dataset.js';
import { MsetWriter } from './mset-writer.js';

const GIB = 2 ** 30;
const GOALS = {
  rss_100_max_bytes: GIB,
  rss_growth_10_to_100_max: 1.3,
  sigterm_first_get_max_ms: 2000,
  kill9_first_get_max_ms: 5000,
} as const;
/** GETs of random keys checked after the restarts. */
const CHECK_KEYS = 10_000;
/** A restart of a large data dir may be slow: measure it rather than give up (the harness's default is 15 s). */
const RESTART_TIMEOUT_MS = 10 * 60_000;
/** Deadline of any single reply: a stalled node fails the run instead of hanging it. */
const REPLY_TIMEOUT_MS = 120_000;
/** How long a SIGTERMed node may take before the harness SIGKILLs it (it gives itself 4.5 s). */
const STOP_TIMEOUT_MS = 60_000;
const PROGRESS_EVERY_MS = 5_000;
/** How long the rewrites run before the kill -9, at least. */
const REWRITE_BEFORE_KILL_MS = 1_000;
/**
 * What the node says of its memory (its /metrics): the JS heap in use and taken from the system,
 * memory outside the heap that V8 is told of (ArrayBuffers, mostly), and RocksDB's block cache,
 * memtables and table readers. The RSS less their sum is the rest: code, and what the C
 * library's allocator holds beyond what is in use.
 */
const MEMORY_METRICS = {
  heap_used: 'nodejs_heap_size_used_bytes',
  heap_total: 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
  storage_engine: 'merklekv_storage_engine_bytes',
} as const;
type MemoryParts = { readonly [part in keyof typeof MEMORY_METRICS]: number | null };
/** Seeds of the random keys: fixed, so every run checks the same keys. */
const PROBE_SEED = 0x5eed;
const CHECK_SEED = 0xc4ec;

const flags = benchCommandLine({
  bench: 'capacity',
  flags: {
    keys: { hint: 'N', description: 'keys to fill; key i is k<i, 10 digits>', default: '20000000' },
    'value-bytes': { hint: 'N', description: 'value size', default: '100' },
    connections: { hint: 'N', description: 'TCP connections of the fill', default: '4' },
    depth: { hint: 'N', description: 'MSET lines in flight per connection', default: '4' },
    'pairs-per-mset': { hint: 'N', description: 'key-value pairs per MSET line', default: '100' },
    'node-arg': { hint: 'ARG', description: 'extra node flag (e.g. --node-arg=--shards --node-arg=4)', multiple: true },
    'sync-divergence': { hint: 'F', description: 'share of the keys that differ between the two nodes of the anti-entropy phase (0 skips it)', default: '0.01' },
    'keep-pair': { hint: 'DIR', description: 'keep the data dirs of the anti-entropy phase, before its SYNC, in DIR (for --pair)' },
    pair: { hint: 'DIR', description: 'run only the anti-entropy phase, on copies of a pair that --keep-pair kept in DIR' },
  },
  notes: [
    'Starts its own nodes (RocksDB engine, temp data dirs, ephemeral ports) and removes their',
    'data dirs at the end. Prints progress on stderr, one JSON line on stdout.',
  ],
});

const settings = {
  keys: Math.floor(positive('keys', flags.keys)),
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
  connections: Math.floor(positive('connections', flags.connections)),
  depth: Math.floor(positive('depth', flags.depth)),
  pairsPerMset: Math.floor(positive('pairs-per-mset', flags['pairs-per-mset'])),
  nodeArgs: flags['node-arg'],
  syncDivergence: Number(flags['sync-divergence']),
  keepPair: flags['keep-pair'],
  pair: flags.pair,
};
if (!(settings.syncDivergence >= 0 && settings.syncDivergence <= 1)) {
  process.stderr.write('--sync-divergence must be a share of the keys, from 0 (skips the phase) to 1\n');
  process.exit(2);
}
if (settings.keepPair !== undefined && existsSync(join(settings.keepPair, 'original'))) {
  process.stderr.write(`--keep-pair: ${settings.keepPair} holds a pair already (remove it, or name another directory)\n`);
  process.exit(2);
}
if (settings.pair !== undefined && !existsSync(join(settings.pair, 'pair.json'))) {
  process.stderr.write(`--pair: no pair.json in ${settings.pair} (keep a pair with --keep-pair first)\n`);
  process.exit(2);
}
if (settings.keys >= 1e10) {
  process.stderr.write('--keys must be below 10^10 (keys have 10 digits)\n');
  process.exit(2);
}
if (msetLineBytes(settings.pairsPerMset, settings.valueBytes) > MERKLEKV_MAX_LINE_BYTES) {
  process.stderr.write(
    `an MSET of ${settings.pairsPerMset} pairs of ${settings.valueBytes}-byte values is longer than a protocol line (${MERKLEKV_MAX_LINE_BYTES} bytes): lower --pairs-per-mset\n`,
  );
  process.exit(2);
}

const progress = (message: string): void => {
  process.stderr.write(`[bench:capacity] ${message}\n`);
};

const round = (n: number, digits = 0): number => Math.round(n * 10 ** digits) / 10 ** digits;
const mib = (bytes: number | undefined): string => (bytes === undefined ? '?' : `${(bytes / 2 ** 20).toFixed(0)} MiB`);
const ratio = (a: number | undefined | null, b: number | undefined | null, digits = 3): number | null =>
  a === undefined || a === null || b === undefined || b === null || b === 0 ? null : round(a / b, digits);

const lastLines = (text: string, n: number): string => text.split('\n').slice(-n).join('\n');

/** What the end of the run, or an interrupt, must clean up: the nodes started and the dirs to remove. */
const live: { nodes: Set<NodeProcess>; dirs: Set<string>; nats: NatsServer | undefined } = { nodes: new Set(), dirs: new Set(), nats: undefined };

/** At the end of a run, whatever still runs is killed and the data dirs are removed. */
async function cleanUp(): Promise<void> {
  await Promise.all([...live.nodes].map((node) => node.kill()));
  await live.nats?.[Symbol.asyncDispose]();
  for (const dir of live.dirs) await removeDir(dir);
}

/** A node of ours: the RocksDB engine, the caller's data dir, ephemeral ports. */
async function launch(dataDir: string, readyTimeoutMs: number, args: readonly string[] = []): Promise<NodeProcess> {
  const node = await startNode({
    args: ['--engine', 'rocksdb', ...args, ...settings.nodeArgs],
    dataDir,
    readyTimeoutMs,
    stopTimeoutMs: STOP_TIMEOUT_MS,
    tempLabel: 'capacity',
  });
  live.nodes.add(node);
  void node.exited.then(() => live.nodes.delete(node));
  return node;
}

/** The memory the node reports, or undefined (logged) when /metrics does not answer. */
async function memoryParts(node: NodeProcess): Promise<MemoryParts | undefined> {
  try {
    const text = await scrapeMetrics(node.ports.http, { timeoutMs: REPLY_TIMEOUT_MS });
    return Object.fromEntries(Object.entries(MEMORY_METRICS).map(([part, name]) => [part, metricValue(text, name) ?? null])) as MemoryParts;
  } catch (err) {
    progress(`could not read /metrics of pid ${node.pid}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

interface Probe {
  readonly key: string;
  /** The reply a correct node gives: `VALUE <v>`, or `NOT_FOUND` on an empty one. */
  readonly reply: string;
}

interface StartTiming {
  /** Spawn to the ready line: the MerkleKV port listens. */
  readonly port_ms: number;
  /** Spawn to the first GET of a known key answered with its value. */
  readonly first_get_ms: number;
  /** `ERROR` replies or refused connections before that (a node still opening its store). */
  readonly get_retries: number;
  /** The node's RSS and heap just after that GET. */
  readonly rss_bytes: number | null;
  readonly heap_bytes: number | null;
}

/**
 * Starts a node on `dataDir` and times it: to the ready line, then to a first correct GET of
 * `probe` (retried while the node answers ERROR or refuses the connection; a wrong value fails
 * the run at once, since the node claims to serve).
 */
async function timedStart(what: string, dataDir: string, probe: Probe): Promise<{ node: NodeProcess; timing: StartTiming }> {
  const started = performance.now();
  const node = await launch(dataDir, RESTART_TIMEOUT_MS);
  const portMs = performance.now() - started;
  const deadline = started + RESTART_TIMEOUT_MS;
  let exit: ProcessExit | undefined;
  void node.exited.then((e) => (exit = e));
  let retries = 0;
  for (;;) {
    if (exit !== undefined) throw new Error(`${what}: the node exited (status ${exit.status}) before a first GET; its last output:\n${lastLines(node.logs(), 30)}`);
    let reply: string | undefined;
    try {
      await using client = await TextClient.connect(node.ports.merklekv, { timeoutMs: REPLY_TIMEOUT_MS });
      reply = await client.request(`GET ${probe.key}`);
    } catch (err) {
      if (performance.now() > deadline) throw err;
    }
    if (reply === probe.reply) break;
    if (reply !== undefined && !reply.startsWith('ERROR')) {
      throw new Error(`${what}: GET ${probe.key} answered ${JSON.stringify(reply.slice(0, 200))}, expected ${JSON.stringify(probe.reply.slice(0, 200))}`);
    }
    if (performance.now() > deadline) throw new Error(`${what}: GET ${probe.key} still answers ${JSON.stringify(reply)} after ${RESTART_TIMEOUT_MS} ms`);
    retries += 1;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const firstGetMs = performance.now() - started;
  const timing: StartTiming = {
    port_ms: round(portMs, 1),
    first_get_ms: round(firstGetMs, 1),
    get_retries: retries,
    rss_bytes: processRssBytes(node.pid) ?? null,
    heap_bytes: (await memoryParts(node))?.heap_used ?? null,
  };
  progress(`${what}: port after ${timing.port_ms} ms, first GET after ${timing.first_get_ms} ms, RSS ${mib(timing.rss_bytes ?? undefined)}`);
  return { node, timing };
}

/** SIGTERM, timed, with the exit status (0 = a clean stop; 137 = the harness had to SIGKILL it). */
async function timedStop(node: NodeProcess): Promise<{ ms: number; status: number }> {
  const started = performance.now();
  const status = await node.stop('SIGTERM');
  return { ms: round(performance.now() - started, 1), status };
}

interface Milestone {
  readonly rss: number | undefined;
  readonly memory: Promise<MemoryParts | undefined>;
}

/** What the fill measured so far: a fill cut short (the node died) still says how far it got. */
interface FillState {
  acked: number;
  seconds: number | undefined;
  readonly milestones: Map<number, Milestone>;
  rssPeak: number | undefined;
  ioBefore: ProcessIo | undefined;
  ioAfter: ProcessIo | undefined;
  /** Cores the node and this process (the writer) used on average during the fill. */
  cpu: { node: number | null; bench: number } | undefined;
}

async function fill(node: NodeProcess, state: FillState): Promise<void> {
  const total = settings.keys;
  const writer = new MsetWriter({
    port: node.ports.merklekv,
    connections: settings.connections,
    depth: settings.depth,
    pairsPerMset: settings.pairsPerMset,
    valueBytes: settings.valueBytes,
    order: new FillOrder(total),
    total,
    replyTimeoutMs: REPLY_TIMEOUT_MS,
  });
  // Percent of the fill → the key count at which it is reached.
  const pending = [10, 50].map((percent) => ({ percent, at: Math.max(1, Math.ceil((total * percent) / 100)) }));
  const sampleRss = (): number | undefined => {
    const rss = processRssBytes(node.pid);
    if (rss !== undefined) state.rssPeak = Math.max(state.rssPeak ?? 0, rss);
    return rss;
  };
  const take = (percent: number): void => {
    const rss = sampleRss();
    state.milestones.set(percent, { rss, memory: memoryParts(node) });
    progress(`${percent}% of the fill: node RSS ${mib(rss)}`);
  };

  state.ioBefore = processIo(node.pid);
  const nodeCpu = measureProcessesCpu({ node: node.pid });
  const benchCpu = process.cpuUsage();
  const started = performance.now();
  let printed = { at: started, acked: 0 };
  let rssSampled = started;
  // Milestones are taken within 20 ms of being reached; the RSS peak is sampled every second.
  const monitor = setInterval(() => {
    state.acked = writer.acked;
    while (pending[0] !== undefined && writer.acked >= pending[0].at) take((pending.shift() as { percent: number }).percent);
    const now = performance.now();
    if (now - rssSampled >= 1000) {
      sampleRss();
      rssSampled = now;
    }
    if (now - printed.at < PROGRESS_EVERY_MS) return;
    const acked = writer.acked;
    const recent = ((acked - printed.acked) / (now - printed.at)) * 1000;
    const average = (acked / (now - started)) * 1000;
    progress(
      `fill: ${acked}/${total} keys (${((acked / total) * 100).toFixed(1)}%), ${Math.round(recent)} keys/s (average ${Math.round(average)}), node RSS ${mib(sampleRss())}`,
    );
    printed = { at: now, acked };
  }, 20);
  try {
    await writer.run();
  } catch (err) {
    // The likeliest cause of a broken fill is the node dying (out of memory): say so, with its last words.
    const exit = await Promise.race([node.exited, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2000))]);
    if (exit === undefined) throw err;
    const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${String(exit.code)}`;
    throw new Error(
      `the node exited (${how}) during the fill, ${writer.acked} keys acknowledged, peak RSS ${mib(state.rssPeak)}; its last output:\n${lastLines(node.logs(), 30)}`,
      { cause: err },
    );
  } finally {
    clearInterval(monitor);
    state.acked = writer.acked;
  }
  state.seconds = (performance.now() - started) / 1000;
  state.ioAfter = processIo(node.pid);
  const used = process.cpuUsage(benchCpu);
  state.cpu = { node: nodeCpu()['node'] ?? null, bench: round((used.user + used.system) / 1e6 / state.seconds, 2) };
  for (const { percent } of pending) take(percent);
  take(100);
}

/**
 * Keeps rewrites of the data set (each key with the value it already holds) in flight, then
 * SIGKILLs the node under them. Returns what was in flight when the signal left.
 */
async function killUnderWrites(node: NodeProcess): Promise<{ msets_in_flight: number; keys_in_flight: number; rewrites_acked: number; status: number }> {
  const writer = new MsetWriter({
    port: node.ports.merklekv,
    connections: settings.connections,
    depth: settings.depth,
    pairsPerMset: settings.pairsPerMset,
    valueBytes: settings.valueBytes,
    // Starting elsewhere than the fill did, wrapping around as long as it runs.
    order: new FillOrder(settings.keys, Math.floor(settings.keys / 3)),
    total: Number.POSITIVE_INFINITY,
    replyTimeoutMs: REPLY_TIMEOUT_MS,
  });
  let failure: unknown;
  let settled = false;
  const running = writer.run().then(
    (result) => {
      settled = true;
      return result;
    },
    (err: unknown) => {
      settled = true;
      failure = err;
      return undefined;
    },
  );
  // Until the pipeline is full and has run for a while.
  const started = performance.now();
  const enough = settings.connections * settings.depth * settings.pairsPerMset;
  while (!settled && (performance.now() - started < REWRITE_BEFORE_KILL_MS || writer.acked < enough)) {
    if (performance.now() - started > REPLY_TIMEOUT_MS) throw new Error(`the rewrites before the kill -9 got ${writer.acked} keys acknowledged in ${REPLY_TIMEOUT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  if (settled) throw failure instanceof Error ? failure : new Error(`the rewrites before the kill -9 ended early: ${String(failure)}`);
  writer.stop({ expectClose: true });
  const inFlight = writer.inFlight();
  const status = await node.kill();
  const result = await running;
  if (result === undefined) throw failure instanceof Error ? failure : new Error(String(failure));
  progress(`kill -9 with ${inFlight.msets} MSETs (${inFlight.keys} keys) in flight, after ${result.acked} rewritten keys acknowledged`);
  return { msets_in_flight: inFlight.msets, keys_in_flight: inFlight.keys, rewrites_acked: result.acked, status };
}

/** GETs `CHECK_KEYS` random keys of the data set, pipelined over the connections, and checks each value. */
async function getCheck(node: NodeProcess): Promise<{ checked: number; wrong: number; missing: number; errors: number }> {
  const indices = sampleIndices(CHECK_KEYS, settings.keys, CHECK_SEED);
  const counts = { checked: 0, wrong: 0, missing: 0, errors: 0 };
  const examples: string[] = [];
  const connections = Math.min(settings.connections, indices.length);
  await Promise.all(
    Array.from({ length: connections }, async (_, c) => {
      const mine = indices.filter((_, i) => i % connections === c);
      await using client = await TextClient.connect(node.ports.merklekv, { timeoutMs: REPLY_TIMEOUT_MS });
      client.write(mine.map((index) => `GET ${capacityKey(index)}\r\n`).join(''));
      for (const index of mine) {
        const reply = await client.readLine();
        counts.checked += 1;
        if (reply === `VALUE ${capacityValue(index, settings.valueBytes)}`) continue;
        if (reply === 'NOT_FOUND') counts.missing += 1;
        else if (reply.startsWith('VALUE ')) counts.wrong += 1;
        else counts.errors += 1;
        if (examples.length < 5) examples.push(`GET ${capacityKey(index)} → ${JSON.stringify(reply.slice(0, 120))}`);
      }
    }),
  );
  if (examples.length > 0) progress(`GET check failures, e.g.: ${examples.join('; ')}`);
  return counts;
}

/** What phase 6 measured: the divergence made, the sessions' record on the initiating node, both nodes' RSS. */
interface SyncMeasure {
  readonly keys_differing: number;
  readonly rewrite_seconds: number;
  /** `OK` once the sessions converged, else the error. */
  readonly sync_reply: string;
  /** SYNC sent to its reply. */
  readonly sync_ms: number;
  /** The copy's INFO record of its sessions with the original (anti_entropy_peer_<node id>). */
  readonly sessions: Record<string, string | number>;
  readonly rss_before_bytes: { readonly original: number | null; readonly copy: number | null };
  readonly rss_peak_bytes: { readonly original: number | null; readonly copy: number | null };
}

/** The anti-entropy phase's copy runs under a node id of its own. */
const COPY_ID = ['--node-id', 'capacity-copy'];

/** What --keep-pair writes beside the pair's data dirs, and --pair reads: the divergence made, and the fill's RSS at 10% (the goals' base). */
interface PairRecord {
  readonly keys: number;
  readonly sync_divergence: number;
  readonly keys_differing: number;
  readonly rewrite_seconds: number;
  readonly rss_fill_10: number | null;
}

/** Phase 6 (see the top of the file): `dataDir` holds the stopped, filled node; `rss10` its RSS at 10% of the fill. */
async function syncBetweenCopies(dataDir: string, rss10: number | null): Promise<SyncMeasure> {
  const copyDir = await makeTempDir('capacity-copy');
  live.dirs.add(copyDir);
  progress(`copying the data dir for the anti-entropy phase (${mib(await directoryBytes(dataDir))})`);
  await cp(dataDir, copyDir, { recursive: true });
  const alone = await launch(copyDir, RESTART_TIMEOUT_MS, COPY_ID);
  const rewritten = await new MsetWriter({
    port: alone.ports.merklekv,
    connections: settings.connections,
    depth: settings.depth,
    pairsPerMset: settings.pairsPerMset,
    valueBytes: settings.valueBytes,
    order: new FillOrder(settings.keys, Math.floor(settings.keys / 7)),
    total: Math.max(1, Math.round(settings.keys * settings.syncDivergence)),
    replyTimeoutMs: REPLY_TIMEOUT_MS,
  }).run();
  await timedStop(alone);
  progress(`the copy rewrote ${rewritten.acked} keys in ${rewritten.seconds.toFixed(1)} s`);
  const record: PairRecord = {
    keys: settings.keys,
    sync_divergence: settings.syncDivergence,
    keys_differing: rewritten.acked,
    rewrite_seconds: round(rewritten.seconds, 2),
    rss_fill_10: rss10,
  };
  if (settings.keepPair !== undefined) {
    progress(`keeping the pair in ${settings.keepPair}`);
    await cp(dataDir, join(settings.keepPair, 'original'), { recursive: true });
    await cp(copyDir, join(settings.keepPair, 'copy'), { recursive: true });
    await writeFile(join(settings.keepPair, 'pair.json'), `${JSON.stringify(record)}\n`);
  }
  return syncPair(dataDir, copyDir, record);
}

/** The SYNC of phase 6, between the stopped original in `dataDir` and its diverged copy in `copyDir`. */
async function syncPair(dataDir: string, copyDir: string, made: PairRecord): Promise<SyncMeasure> {
  progress('both join a cluster');
  const nats = await startNatsServer();
  live.nats = nats;
  const clusterArgs = ['--nats', nats.url, '--anti-entropy=false'];
  const original = await launch(dataDir, RESTART_TIMEOUT_MS, clusterArgs);
  const copy = await launch(copyDir, RESTART_TIMEOUT_MS, [...clusterArgs, ...COPY_ID]);
  try {
    progress('SYNC from the copy with the original');
    const rssBefore = { original: processRssBytes(original.pid) ?? null, copy: processRssBytes(copy.pid) ?? null };
    const peak = { ...rssBefore };
    const sample = (): void => {
      for (const [name, node] of [['original', original], ['copy', copy]] as const) {
        const rss = processRssBytes(node.pid);
        if (rss !== undefined) peak[name] = Math.max(peak[name] ?? 0, rss);
      }
    };
    await using client = await TextClient.connect(copy.ports.merklekv, { timeoutMs: RESTART_TIMEOUT_MS });
    const sampler = setInterval(sample, 100);
    const started = performance.now();
    let reply: string;
    try {
      reply = await client.request(`SYNC 127.0.0.1 ${original.ports.merklekv}`);
    } finally {
      clearInterval(sampler);
    }
    sample();
    const syncMs = performance.now() - started;
    // A SYNC that fails is a result of this phase (with the RSS it reached), not a broken run.
    if (reply !== 'OK') progress(`SYNC answered ${JSON.stringify(reply.slice(0, 300))}`);
    // Its only peer: the original, named by its node id.
    const record = [...(await client.info(REPLY_TIMEOUT_MS))].find(([key]) => key.startsWith('anti_entropy_peer_'))?.[1] ?? '';
    const sessions = Object.fromEntries(
      (record === '' ? [] : record.split(',')).map((field) => {
        const [name, value] = field.split('=') as [string, string];
        return [name, /^\d+$/.test(value) ? Number(value) : value];
      }),
    );
    progress(`SYNC took ${Math.round(syncMs)} ms (${record}); peak RSS: original ${mib(peak.original ?? undefined)}, copy ${mib(peak.copy ?? undefined)}`);
    return {
      keys_differing: made.keys_differing,
      rewrite_seconds: made.rewrite_seconds,
      sync_reply: reply,
      sync_ms: round(syncMs, 1),
      sessions,
      rss_before_bytes: rssBefore,
      rss_peak_bytes: peak,
    };
  } finally {
    await Promise.all([timedStop(original), timedStop(copy)]);
    await nats[Symbol.asyncDispose]();
    live.nats = undefined;
  }
}

/** Phase 6's goals: SYNC answered OK, and both nodes' RSS peaked within the capacity goal (`rss10`: the fill's RSS at 10%). */
function syncGoals(sync: SyncMeasure | undefined, rss10: number | null): Record<string, ReturnType<typeof goal>> {
  const peaks = Object.values(sync?.rss_peak_bytes ?? {}).filter((rss) => rss !== null);
  const peak = peaks.length === 2 ? Math.max(...peaks) : null;
  return {
    sync_failed: goal(sync === undefined ? null : Number(sync.sync_reply !== 'OK'), 0),
    sync_rss_peak_max_1gib: goal(peak, GOALS.rss_100_max_bytes),
    sync_rss_peak_vs_10_max_1_3: goal(ratio(peak, rss10), GOALS.rss_growth_10_to_100_max),
  };
}

/** --pair: phase 6 alone, on copies of the pair `dir` holds (it stays as it was). */
async function syncKeptPair(dir: string): Promise<void> {
  const made = JSON.parse(await readFile(join(dir, 'pair.json'), 'utf8')) as PairRecord;
  progress(`the pair in ${dir}: ${JSON.stringify(made)}`);
  const dirs = { original: await makeTempDir('capacity'), copy: await makeTempDir('capacity-copy') };
  try {
    for (const [name, to] of Object.entries(dirs)) {
      live.dirs.add(to);
      progress(`copying ${name} (${mib(await directoryBytes(join(dir, name)))})`);
      await cp(join(dir, name), to, { recursive: true });
    }
    const sync = await syncPair(dirs.original, dirs.copy, made);
    const goals = syncGoals(sync, made.rss_fill_10);
    const result = {
      bench: 'capacity',
      phase: 'anti-entropy only, on a kept pair',
      pair: dir,
      keys: made.keys,
      node_args: settings.nodeArgs,
      cpus: availableParallelism(),
      loadavg_1m: round(loadavg()[0] ?? 0, 2),
      rss_fill_10: made.rss_fill_10,
      sync_divergence: made.sync_divergence,
      sync,
      goals,
      goals_met: Object.values(goals).every((g) => g.met),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await cleanUp();
  }
}

async function dbsize(node: NodeProcess): Promise<number> {
  await using client = await TextClient.connect(node.ports.merklekv, { timeoutMs: REPLY_TIMEOUT_MS });
  const reply = await client.request('DBSIZE');
  const match = /^DBSIZE (\d+)$/.exec(reply);
  if (match?.[1] === undefined) throw new Error(`DBSIZE answered ${JSON.stringify(reply.slice(0, 200))}`);
  return Number(match[1]);
}

/** A goal of the issue: the value measured (null when the run did not get that far), the limit, whether it is met. */
function goal(value: number | null | undefined, limit: number): { value: number | null; limit: number; met: boolean } {
  return { value: value ?? null, limit, met: value !== null && value !== undefined && value <= limit };
}

async function main(): Promise<void> {
  progress(`settings ${JSON.stringify(settings)}`);
  onInterrupt('capacity', () => {
    for (const node of live.nodes) killQuietly(node.pid);
    if (live.nats !== undefined) {
      killQuietly(live.nats.pid);
      live.dirs.add(live.nats.storeDir);
    }
    for (const dir of live.dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  });
  if (settings.pair !== undefined) return syncKeptPair(settings.pair);

  // Filled in phase by phase, so that a run that fails half-way still reports what it measured.
  const filled: FillState = { acked: 0, seconds: undefined, milestones: new Map(), rssPeak: undefined, ioBefore: undefined, ioAfter: undefined, cpu: undefined };
  const m: {
    emptyStart?: StartTiming;
    emptyRestart?: StartTiming;
    memory?: { fill_10: MemoryParts | null; fill_50: MemoryParts | null; fill_100: MemoryParts | null };
    dbsizeAfterFill?: number;
    diskBytes?: number;
    sigtermStop?: { ms: number; status: number };
    diskBytesAfterStop?: number;
    afterSigterm?: StartTiming;
    kill9?: Awaited<ReturnType<typeof killUnderWrites>>;
    afterKill?: StartTiming;
    check?: Awaited<ReturnType<typeof getCheck>>;
    dbsize?: number;
    sync?: SyncMeasure;
  } = {};

  const memoryAt = async (percent: number): Promise<MemoryParts | null> => (await filled.milestones.get(percent)?.memory) ?? null;
  const memories = async (): Promise<NonNullable<typeof m.memory>> => ({ fill_10: await memoryAt(10), fill_50: await memoryAt(50), fill_100: await memoryAt(100) });

  const report = (error?: unknown): Record<string, unknown> => {
    const rssAt = (percent: number): number | null => filled.milestones.get(percent)?.rss ?? null;
    const rss10 = rssAt(10);
    const rss100 = rssAt(100);
    const rssGrowth = ratio(rss100, rss10);
    const logicalBytes = settings.keys * (KEY_BYTES + settings.valueBytes);
    const { ioBefore, ioAfter } = filled;
    const diskWriteBytes = ioBefore !== undefined && ioAfter !== undefined ? ioAfter.writeBytes - ioBefore.writeBytes : null;
    const cancelledWriteBytes = ioBefore !== undefined && ioAfter !== undefined ? ioAfter.cancelledWriteBytes - ioBefore.cancelledWriteBytes : null;
    const check = m.check;
    const badValues = check === undefined ? null : check.wrong + check.missing + check.errors;
    const problems = [
      ...(check !== undefined && badValues !== 0 ? [`GET check: ${check.wrong} wrong, ${check.missing} missing, ${check.errors} errors`] : []),
      ...(m.dbsize !== undefined && m.dbsize !== settings.keys ? [`DBSIZE ${m.dbsize} after the restarts, ${settings.keys} keys written`] : []),
      ...(m.dbsizeAfterFill !== undefined && m.dbsizeAfterFill !== settings.keys ? [`DBSIZE ${m.dbsizeAfterFill} after the fill, ${settings.keys} keys written`] : []),
    ];
    const goals = {
      rss_100_max_1gib: goal(rss100, GOALS.rss_100_max_bytes),
      rss_100_vs_10_max_1_3: goal(rssGrowth, GOALS.rss_growth_10_to_100_max),
      sigterm_first_get_ms: goal(m.afterSigterm?.first_get_ms, GOALS.sigterm_first_get_max_ms),
      kill9_first_get_ms: goal(m.afterKill?.first_get_ms, GOALS.kill9_first_get_max_ms),
      // Errors count here too: a GET that did not answer did not return its value.
      wrong_plus_missing: goal(badValues, 0),
      ...(settings.syncDivergence > 0 && syncGoals(m.sync, rss10)),
    };
    const emptyRestart = m.emptyRestart;
    const vsEmpty = (timing: StartTiming | undefined, field: 'port_ms' | 'first_get_ms'): number | null => ratio(timing?.[field], emptyRestart?.[field], 2);
    return {
      bench: 'capacity',
      engine: 'rocksdb',
      node_args: settings.nodeArgs,
      keys: settings.keys,
      key_bytes: KEY_BYTES,
      value_bytes: settings.valueBytes,
      connections: settings.connections,
      depth: settings.depth,
      pairs_per_mset: settings.pairsPerMset,
      cpus: availableParallelism(),
      // Other work on the machine skews the timings; the load average at the end says how busy it was.
      loadavg_1m: round(loadavg()[0] ?? 0, 2),
      // The first line only: the node's last output that may follow went to stderr.
      ...(error !== undefined ? { error: (error instanceof Error ? error.message : String(error)).split('\n')[0], keys_acked: filled.acked } : {}),
      fill_seconds: filled.seconds === undefined ? null : round(filled.seconds, 2),
      fill_keys_per_s: filled.seconds === undefined ? null : Math.round(settings.keys / filled.seconds),
      // Near one core for the bench, the writer limits the fill rate as much as the node.
      fill_cpu_cores: filled.cpu ?? null,
      rss_bytes: { fill_10: rss10, fill_50: rssAt(50), fill_100: rss100 },
      heap_bytes: m.memory === undefined ? null : Object.fromEntries(Object.entries(m.memory).map(([at, parts]) => [at, parts?.heap_used ?? null])),
      // The RSS's parts as the node reports them (see MEMORY_METRICS), at the same moments.
      memory_parts: m.memory ?? null,
      rss_peak_bytes: filled.rssPeak ?? null,
      rss_ratio_100_vs_10: rssGrowth,
      logical_bytes: logicalBytes,
      disk_write_bytes: diskWriteBytes,
      cancelled_write_bytes: cancelledWriteBytes,
      write_amplification: ratio(diskWriteBytes, logicalBytes, 2),
      // Without the pages dirtied and then spared by deleting their file (a WAL gone after its memtable was flushed).
      write_amplification_net: ratio(diskWriteBytes === null || cancelledWriteBytes === null ? null : diskWriteBytes - cancelledWriteBytes, logicalBytes, 2),
      disk_bytes: m.diskBytes ?? null,
      disk_bytes_per_key: ratio(m.diskBytes, settings.keys, 1),
      disk_bytes_after_stop: m.diskBytesAfterStop ?? null,
      dbsize_after_fill: m.dbsizeAfterFill ?? null,
      sigterm_stop: m.sigtermStop ?? null,
      restart_after_sigterm: m.afterSigterm ?? null,
      kill9: m.kill9 ?? null,
      restart_after_kill9: m.afterKill ?? null,
      reference_empty: { fresh: m.emptyStart ?? null, restart_after_sigterm: emptyRestart ?? null },
      // Restart times over the empty node's restart, measured in the same run.
      restart_vs_empty: {
        sigterm_port: vsEmpty(m.afterSigterm, 'port_ms'),
        sigterm_first_get: vsEmpty(m.afterSigterm, 'first_get_ms'),
        kill9_port: vsEmpty(m.afterKill, 'port_ms'),
        kill9_first_get: vsEmpty(m.afterKill, 'first_get_ms'),
      },
      get_check: check ?? null,
      dbsize: m.dbsize ?? null,
      sync_divergence: settings.syncDivergence,
      sync: m.sync ?? null,
      goals,
      goals_met: Object.values(goals).every((g) => g.met),
      valid: error === undefined && problems.length === 0,
      ...(problems.length > 0 ? { problems } : {}),
    };
  };

  try {
    // 1. The reference: an empty node, started on a fresh dir and restarted on it.
    const emptyDir = await makeTempDir('capacity-empty');
    live.dirs.add(emptyDir);
    const emptyProbe: Probe = { key: capacityKey(0), reply: 'NOT_FOUND' };
    const emptyStart = await timedStart('empty node, fresh data dir', emptyDir, emptyProbe);
    m.emptyStart = emptyStart.timing;
    await timedStop(emptyStart.node);
    const emptyRestart = await timedStart('empty node, restart after SIGTERM', emptyDir, emptyProbe);
    m.emptyRestart = emptyRestart.timing;
    await timedStop(emptyRestart.node);
    await removeDir(emptyDir);
    live.dirs.delete(emptyDir);

    // 2. The fill.
    const dataDir = await makeTempDir('capacity');
    live.dirs.add(dataDir);
    const filling = await launch(dataDir, 60_000);
    progress(`node pid ${filling.pid} on port ${filling.ports.merklekv}, data dir ${dataDir}`);
    await fill(filling, filled);
    progress(`filled ${settings.keys} keys in ${(filled.seconds ?? 0).toFixed(1)} s (${Math.round(settings.keys / (filled.seconds ?? 1))} keys/s)`);
    m.memory = await memories();
    m.dbsizeAfterFill = await dbsize(filling);
    m.diskBytes = await directoryBytes(dataDir);

    // 3. SIGTERM and restart.
    m.sigtermStop = await timedStop(filling);
    m.diskBytesAfterStop = await directoryBytes(dataDir);
    progress(`SIGTERM stop took ${m.sigtermStop.ms} ms (exit status ${m.sigtermStop.status}); ${mib(m.diskBytesAfterStop)} on disk`);
    const probeIndex = sampleIndices(1, settings.keys, PROBE_SEED)[0] ?? 0;
    const probe: Probe = { key: capacityKey(probeIndex), reply: `VALUE ${capacityValue(probeIndex, settings.valueBytes)}` };
    const afterSigterm = await timedStart('restart after SIGTERM', dataDir, probe);
    m.afterSigterm = afterSigterm.timing;

    // 4. kill -9 under writes, and restart.
    m.kill9 = await killUnderWrites(afterSigterm.node);
    const afterKill = await timedStart('restart after kill -9', dataDir, probe);
    m.afterKill = afterKill.timing;

    // 5. Every value checked, and the key count.
    m.check = await getCheck(afterKill.node);
    progress(`GET check: ${m.check.checked} checked, ${m.check.wrong} wrong, ${m.check.missing} missing, ${m.check.errors} errors`);
    m.dbsize = await dbsize(afterKill.node);
    progress(`DBSIZE ${m.dbsize} (after the fill: ${m.dbsizeAfterFill}), ${settings.keys} written`);
    await timedStop(afterKill.node);

    // 6. Anti-entropy between the filled node and a copy of it that differs.
    if (settings.syncDivergence > 0) m.sync = await syncBetweenCopies(dataDir, filled.milestones.get(10)?.rss ?? null);
  } catch (err) {
    // What was measured before the failure, then the failure itself (runBench reports it, exit code 1).
    m.memory ??= await memories();
    process.stdout.write(`${JSON.stringify(report(err))}\n`);
    throw err;
  } finally {
    await cleanUp();
  }
  const result = report();
  if (result['valid'] !== true) {
    progress(`invalid run: ${(result['problems'] as string[]).join('; ')}`);
    process.exitCode = 1;
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

runBench('capacity', main);
