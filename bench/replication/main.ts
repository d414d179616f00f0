/**
 * bench:replication: how long a write acknowledged by node A takes to become visible on nodes B
 * and C, against raw JetStream on the same nats-server in the same run (the engine is the floor).
 *
 * Starts nats-server (JetStream, temp store) and three nodes (RocksDB, temp data dirs) that
 * replicate through it. In this process: a writer SETs `bench:<seq>` on A over a few pipelined
 * connections and stamps each `OK`; a `WATCH bench:` connection on B and one on C stamp each
 * `CHANGE bench:<seq>`. One sample per (write, replica): visible-on-replica minus acked-on-A, on
 * one monotonic clock. A replica's line can be read before A's `OK` (negative latency): kept as
 * is and counted (`negative`).
 *
 * The reference publishes the same payloads to a stream of its own at the same rate with
 * `js.publish` from one connection and reads them through durable pull consumers on two other
 * connections (one per replica), pulled the way the nodes pull (see jetstream.ts). Its
 * publish-to-consume latency (publish start to consumed, `from_publish_start_*`) is what the
 * goal compares with: `p99_ratio` is MerkleKV's acked-to-visible p99 over it. That is the floor:
 * a node acknowledges a SET before it publishes the change, so after the ack a whole publish and
 * consume must still happen. JetStream's publish-acked to consumed (`p50_ms`/`p99_ms`) is
 * reported too, with `p99_ratio_vs_publish_ack`, but it is no floor: the PubAck and the delivery
 * leave the server at about the same moment, so it is near zero, often negative, and its p99 is
 * mostly scheduling jitter.
 *
 * Phases, each with an unrecorded warm-up: (1) fixed rate, raw JetStream first, then MerkleKV;
 * (2) full speed, closed loop: MerkleKV with N connections x depth writes in flight (writes/s
 * acked on A, and the visible latency under that load), then raw JetStream with the node
 * publisher's window of publishes in flight. During MerkleKV's fixed-rate window the replicas'
 * own /metrics are read at its start and end: their GC pauses over the window (`replica_gc`, see
 * replica-gc.ts). After each phase every acknowledged write must
 * reach every replica; what has not when nothing new arrived for 10 s is `lost` (exit 1).
 *
 *   npm run bench:replication -- --rate 2000 --seconds 30 --value-bytes 100 --full-seconds 10
 */
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { startNatsServer, startNode, TextClient, type NatsServer, type NodeProcess } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { benchValue } from '../lib/loadgen.js';
import { runClosedLoop, runPaced, type PhaseResult, type WriteTarget } from './drive.js';
import { JetStreamReference, type PullMode } from './jetstream.js';
import { KEY_PREFIX, MerkleKvWriter, Watcher } from './merklekv.js';
import { GC_METRIC, gcSummary, ReplicaGcProbe } from './replica-gc.js';
import { GOAL, goalMet, jetstreamFigures, merklekvFigures, ms, ratio } from './report.js';
import { type Analysis, SampleBook } from './samples.js';

const flags = benchCommandLine({
  bench: 'replication',
  flags: {
    rate: { hint: 'N', description: 'fixed-rate writes per second', default: '2000' },
    seconds: { hint: 'S', description: 'measured seconds at the fixed rate', default: '30' },
    'value-bytes': { hint: 'N', description: 'value size', default: '100' },
    'full-seconds': { hint: 'S', description: 'measured seconds at full speed (0 skips the phase)', default: '10' },
    warmup: { hint: 'S', description: 'unrecorded seconds before each measured window', default: '3' },
    connections: { hint: 'N', description: 'writer connections to A at the fixed rate', default: '4' },
    'full-connections': { hint: 'N', description: 'writer connections to A at full speed', default: '8' },
    'full-depth': { hint: 'N', description: 'writes in flight per connection at full speed', default: '32' },
    'js-window': { hint: 'N', description: 'raw JetStream publishes in flight at full speed (as the node publisher)', default: '256' },
    'js-pull': { hint: 'MODE', description: 'how the reference consumers pull: fetch (as the nodes) or consume', default: 'fetch' },
    'quiet-seconds': { hint: 'S', description: 'a write not seen after S seconds without progress is lost', default: '10' },
    'node-arg': { hint: 'ARG', description: 'extra node flag (e.g. --node-arg=--shards --node-arg=4)', multiple: true },
    'node-flag': { hint: 'FLAG', description: 'Node.js runtime flag for the nodes (e.g. --node-flag=--max-semi-space-size=32)', multiple: true },
    'node-entry': { hint: 'PATH', description: 'node script to run, to compare builds (default dist/apps/node/src/main.js)' },
  },
});

if (flags['js-pull'] !== 'fetch' && flags['js-pull'] !== 'consume') {
  process.stderr.write(`--js-pull must be fetch or consume, got ${JSON.stringify(flags['js-pull'])}\n`);
  process.exit(2);
}

const settings = {
  rate: positive('rate', flags.rate),
  seconds: positive('seconds', flags.seconds),
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
  fullSeconds: positive('full-seconds', flags['full-seconds'], true),
  warmup: positive('warmup', flags.warmup, true),
  connections: Math.floor(positive('connections', flags.connections)),
  fullConnections: Math.floor(positive('full-connections', flags['full-connections'])),
  fullDepth: Math.floor(positive('full-depth', flags['full-depth'])),
  jsWindow: Math.floor(positive('js-window', flags['js-window'])),
  jsPull: flags['js-pull'] as PullMode,
  quietSeconds: positive('quiet-seconds', flags['quiet-seconds']),
  nodeArgs: flags['node-arg'],
  nodeFlags: flags['node-flag'],
  nodeEntry: flags['node-entry'],
};

const REPLICAS = ['b', 'c'] as const;

const progress = (message: string): void => {
  process.stderr.write(`[bench:replication] ${message}\n`);
};

/** A table of values, so that a write costs no value generation. */
function valueTable(bytes: number): (seq: number) => Buffer {
  const table = Array.from({ length: 1024 }, (_, i) => benchValue(i, bytes));
  return (seq) => table[seq % table.length] as Buffer;
}

/** Writes probe keys on A until both watchers have seen one: replication is flowing. */
async function waitForReplication(port: number, watchers: readonly Watcher[], timeoutMs = 60_000): Promise<number> {
  const started = performance.now();
  await using client = await TextClient.connect(port);
  for (let n = 0; performance.now() - started < timeoutMs; n += 1) {
    const key = `${KEY_PREFIX}ready-${n}`;
    const reply = await client.request(`SET ${key} x`);
    if (reply !== 'OK') throw new Error(`SET ${key} on A answered ${JSON.stringify(reply)}`);
    const seen = await Promise.all(watchers.map((w) => w.waitForKey(key, 1000)));
    if (seen.every(Boolean)) return performance.now() - started;
  }
  throw new Error(`a write on A did not reach both replicas within ${timeoutMs} ms`);
}

function summaryLine(name: string, phase: PhaseResult, a: Analysis): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : '-');
  return (
    `${name}: ${a.ackedInWindow} writes in the window (${Math.round(a.ackedPerSec)}/s), acked->visible p50 ${f(a.visible.p50)} ` +
    `p99 ${f(a.visible.p99)} max ${f(a.visible.max)} ms, issued->visible p99 ${f(a.visibleFromIssue.p99)} ms, ack p99 ${f(a.ack.p99)} ms, ` +
    `negative ${a.negative}, lost ${a.lost} [${a.lostByObserver.join(', ')}], failed ${a.unacked}, unexpected ${a.unexpected}, ` +
    `drain ${Math.round(phase.drainMs)} ms, cpu (cores) bench ${phase.benchCpu} ${Object.entries(phase.serversCpu)
      .map(([k, v]) => `${k} ${v}`)
      .join(' ')}, bench loop delay p99 ${phase.loopDelayP99Ms} ms`
  );
}

function analyze(target: WriteTarget, phase: PhaseResult): Analysis {
  const range = { from: phase.from, to: phase.to, window: phase.window };
  const perSecond = target.book.timeline(range, 1000);
  const f = (v: number): string => (Number.isFinite(v) ? String(Math.round(v)) : '-');
  progress(`${target.name}: acked->visible p99 | max per second (ms): ${perSecond.map((s) => `${f(s.p99)}|${f(s.max)}`).join(' ')}`);
  return target.book.analyze(range);
}

/** SIGKILLs what we started and removes temp dirs when the run is interrupted. */
function cleanUpOnInterrupt(live: { nats?: NatsServer; nodes: NodeProcess[] }): void {
  onInterrupt('replication', () => {
    for (const proc of [...live.nodes, ...(live.nats ? [live.nats] : [])]) killQuietly(proc.pid);
    for (const node of live.nodes) rmSync(node.dataDir, { recursive: true, force: true });
    if (live.nats) rmSync(live.nats.storeDir, { recursive: true, force: true });
  });
}

async function main(): Promise<void> {
  progress(`settings ${JSON.stringify(settings)}`);
  const live: { nats?: NatsServer; nodes: NodeProcess[] } = { nodes: [] };
  cleanUpOnInterrupt(live);
  let fatal: Error | undefined;
  const onFatal = (err: Error): void => {
    if (fatal === undefined) progress(`fatal: ${err.message}`);
    fatal ??= err;
  };
  const checkFatal = (): void => {
    if (fatal !== undefined) throw fatal;
  };

  await using nats = await startNatsServer();
  live.nats = nats;
  progress(`nats-server pid ${nats.pid} on ${nats.url}`);
  // Declared in start order, disposed in reverse: the nodes stop before NATS does.
  const startReplica = async (id: string): Promise<NodeProcess> => {
    const node = await startNode({
      args: ['--nats', nats.url, '--node-id', id, '--engine', 'rocksdb', ...settings.nodeArgs],
      nodeFlags: settings.nodeFlags,
      readyTimeoutMs: 30_000,
      ...(settings.nodeEntry === undefined ? {} : { entry: settings.nodeEntry }),
    });
    live.nodes.push(node);
    progress(`node ${id} pid ${node.pid} on port ${node.ports.merklekv}, data dir ${node.dataDir}`);
    return node;
  };
  await using a = await startReplica('a');
  await using b = await startReplica('b');
  await using c = await startReplica('c');

  const value = valueTable(settings.valueBytes);
  const kvBook = new SampleBook(REPLICAS.length);
  const jsBook = new SampleBook(REPLICAS.length);
  const watchers = await Promise.all(
    [b, c].map((node, observer) =>
      Watcher.open({ name: REPLICAS[observer] ?? '?', port: node.ports.merklekv, book: kvBook, observer, onFatal, progress }),
    ),
  );
  const writers: MerkleKvWriter[] = [];
  let ref: JetStreamReference | undefined;
  try {
    const readyMs = await waitForReplication(a.ports.merklekv, watchers);
    progress(`replication flows A -> B, C (${Math.round(readyMs)} ms)`);
    const writer = await MerkleKvWriter.open({ port: a.ports.merklekv, connections: settings.connections, book: kvBook, value, onFatal });
    writers.push(writer);
    ref = await JetStreamReference.open({ url: nats.url, book: jsBook, pull: settings.jsPull, value, progress });
    const gcProbe = new ReplicaGcProbe({ b: b.ports.http, c: c.ports.http }, progress);
    await gcProbe.check();

    const pids = { nats: nats.pid, a: a.pid, b: b.pid, c: c.pid };
    const paced = { pids, rate: settings.rate, warmupMs: settings.warmup * 1000, durationMs: settings.seconds * 1000, quietMs: settings.quietSeconds * 1000, progress };
    progress(`fixed rate: raw JetStream, ${settings.rate}/s for ${settings.warmup} s warm-up + ${settings.seconds} s`);
    const jsFixed = await runPaced(ref, paced);
    const jsFixedA = analyze(ref, jsFixed);
    progress(summaryLine('jetstream fixed rate', jsFixed, jsFixedA));
    checkFatal();

    progress(`fixed rate: MerkleKV, ${settings.rate}/s for ${settings.warmup} s warm-up + ${settings.seconds} s`);
    const kvFixed = await runPaced(writer, { ...paced, onWindow: gcProbe.mark });
    const kvFixedA = analyze(writer, kvFixed);
    progress(summaryLine('merklekv fixed rate', kvFixed, kvFixedA));
    const replicaGc = await gcProbe.figures();
    for (const [name, figures] of Object.entries(replicaGc)) if (figures !== null) progress(gcSummary(`merklekv fixed rate: replica ${name}:`, figures));
    checkFatal();

    let full: Record<string, unknown> | undefined;
    let fullLost = 0;
    let fullInvalid = 0;
    if (settings.fullSeconds > 0) {
      const closed = { pids, warmupMs: settings.warmup * 1000, durationMs: settings.fullSeconds * 1000, quietMs: settings.quietSeconds * 1000, progress };
      const fullWriter = await MerkleKvWriter.open({ port: a.ports.merklekv, connections: settings.fullConnections, book: kvBook, value, onFatal });
      writers.push(fullWriter);
      progress(`full speed: MerkleKV, ${settings.fullConnections} connections x ${settings.fullDepth} in flight for ${settings.warmup} s + ${settings.fullSeconds} s`);
      const kvFull = await runClosedLoop(fullWriter, { ...closed, inFlight: settings.fullConnections * settings.fullDepth });
      const kvFullA = analyze(fullWriter, kvFull);
      progress(summaryLine('merklekv full speed', kvFull, kvFullA));
      checkFatal();

      progress(`full speed: raw JetStream, ${settings.jsWindow} publishes in flight for ${settings.warmup} s + ${settings.fullSeconds} s`);
      const jsFull = await runClosedLoop(ref, { ...closed, inFlight: settings.jsWindow });
      const jsFullA = analyze(ref, jsFull);
      progress(summaryLine('jetstream full speed', jsFull, jsFullA));
      checkFatal();

      fullLost = kvFullA.lost;
      fullInvalid = jsFullA.lost + jsFullA.unacked + kvFullA.unacked;
      full = {
        seconds: settings.fullSeconds,
        connections: settings.fullConnections,
        depth: settings.fullDepth,
        merklekv_writes_s: Math.round(kvFullA.ackedPerSec),
        merklekv_visible_p50_ms: ms(kvFullA.visible.p50),
        merklekv_visible_p99_ms: ms(kvFullA.visible.p99),
        merklekv_visible_max_ms: ms(kvFullA.visible.max),
        merklekv_ack_p99_ms: ms(kvFullA.ack.p99),
        merklekv_lost: kvFullA.lost,
        // How long the replicas took, after the writes stopped, to catch up with A.
        merklekv_drain_ms: Math.round(kvFull.drainMs),
        jetstream_window: settings.jsWindow,
        jetstream_publish_s: Math.round(jsFullA.ackedPerSec),
        // Not its consume latency: at this rate the reference's consumers, in this process's one
        // event loop, fall behind the publisher (stderr shows by how much).
        jetstream_lost: jsFullA.lost,
        writes_ratio: ratio(kvFullA.ackedPerSec, jsFullA.ackedPerSec),
        merklekv_cpu: { bench: kvFull.benchCpu, ...kvFull.serversCpu },
        jetstream_cpu: { bench: jsFull.benchCpu, nats: jsFull.serversCpu['nats'] },
      };
    }

    const p99Ratio = ratio(kvFixedA.visible.p99, jsFixedA.visibleFromIssue.p99);
    const report = {
      bench: 'replication',
      rate: settings.rate,
      seconds: settings.seconds,
      value_bytes: settings.valueBytes,
      warmup_s: settings.warmup,
      nodes: 3,
      engine: 'rocksdb',
      connections: settings.connections,
      cpus: availableParallelism(),
      merklekv: {
        ...merklekvFigures(kvFixedA),
        lost_by_replica: Object.fromEntries(REPLICAS.map((r, i) => [r, kvFixedA.lostByObserver[i] ?? 0])),
        cpu: { bench: kvFixed.benchCpu, ...kvFixed.serversCpu },
        bench_loop_delay_p99_ms: kvFixed.loopDelayP99Ms,
      },
      jetstream: {
        ...jetstreamFigures(jsFixedA),
        consumers: REPLICAS.length,
        pull: settings.jsPull,
        cpu: { bench: jsFixed.benchCpu, nats: jsFixed.serversCpu['nats'] },
        bench_loop_delay_p99_ms: jsFixed.loopDelayP99Ms,
      },
      p99_ratio: p99Ratio,
      p99_ratio_vs_publish_ack: ratio(kvFixedA.visible.p99, jsFixedA.visible.p99),
      // B's and C's GC pauses over MerkleKV's fixed-rate window, from their /metrics (replica-gc.ts):
      // counts and totals are lower bounds, p99 and max only to the histogram's buckets.
      replica_gc: { phase: 'merklekv fixed rate', source: GC_METRIC, ...replicaGc },
      full_speed: full ?? null,
      // Other work on the machine skews both sides; the load average at the end says how busy it was.
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      goal: GOAL,
      goal_met: goalMet(p99Ratio),
    };

    const problems: string[] = [];
    if (kvFixedA.lost > 0 || fullLost > 0) problems.push(`MerkleKV lost ${kvFixedA.lost + fullLost} acknowledged writes`);
    if (kvFixedA.unacked > 0 || jsFixedA.unacked > 0 || fullInvalid > 0 || jsFixedA.lost > 0) {
      problems.push(`invalid run: failed MerkleKV writes ${kvFixedA.unacked}, failed or lost JetStream messages ${jsFixedA.unacked + jsFixedA.lost}, full speed ${fullInvalid}`);
    }
    const unexpected = watchers.reduce((n, w) => n + w.unexpected, 0);
    if (unexpected > 0) problems.push(`${unexpected} unexpected watch lines`);
    if (problems.length > 0) {
      progress(problems.join('; '));
      process.exitCode = 1;
    }
    progress('stopping the servers');
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    for (const w of watchers) w.close();
    for (const w of writers) w.close();
    await ref?.close();
  }
}

runBench('replication', main);
