/**
 * Anti-entropy benchmark: two replicas of N keys (24-byte keys, 100-byte values, 16 shards, real
 * stores over the memory engine), 1% divergent, repaired by one session through a simulated link
 * that counts every byte. One JSON line per scenario on stdout (nothing else):
 *
 *   scenario             values_changed | missing_one_side | missing_both_sides | consecutive_changed | identical
 *   keys, differing      replica size, keys that differ
 *   bytes_a_to_b         request bytes (A initiates), bytes_b_to_a reply bytes
 *   min_bytes            the reference: the differing records themselves (key + encoded entry of
 *                        the side that wins), what any repair must move
 *   overhead_bytes       bytes_a_to_b + bytes_b_to_a - min_bytes
 *   round_trips          sequential waits on the link, the root compare included
 *   records_ratio        records shipped / keys that differ
 *   cpu_ms_a, cpu_ms_b   time each side computed (one process: the responder's busy time, and the rest)
 *   modelled_ms          bytes / 6.25 MB/s (50 Mbps) + round trips x 20 ms + both CPUs
 *   converged            the trees are equal afterwards
 *
 * `--keys` sets N (default 1,000,000); the session runs with its defaults except `concurrency`
 * (`--concurrency`, default 64): on a link, every message of a round goes out back to back and
 * the bandwidth term counts them.
 */
import { encodeEntry, type Entry } from '#crdt';
import { toHex } from '#mst';
import { MemoryEngine, Store } from '#store';
import { Responder, runSession } from '#anti-entropy';
import { positive } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';

const flags = benchCommandLine({
  bench: 'anti-entropy',
  flags: {
    keys: { hint: 'N', description: 'keys of each replica (1% of them differ)', default: '1000000' },
    concurrency: { hint: 'N', description: "the session's messages in flight", default: '64' },
  },
  notes: ['Runs in this process, over the memory engine and a simulated link. One JSON line per scenario on stdout.'],
});
const N = Math.floor(positive('keys', flags.keys));
const CONCURRENCY = Math.floor(positive('concurrency', flags.concurrency));
const SHARDS = 16;
const D = Math.round(N / 100);
const LINK_BYTES_PER_MS = 6250; // 50 Mbps
const RTT_MS = 20;
const T0 = Date.now() - 3_600_000;

const key = (i: number): string => `key:${String(i).padStart(20, '0')}`;
const value = (i: number, tag: string): Buffer => Buffer.from(`${tag}:${i}:`.padEnd(100, 'x'));
const register = (i: number, node: string, wall: number, tag: string): Entry => ({
  type: 'register',
  stamp: { hlc: { wall: wall + Math.floor(i / 1000), logical: i % 1000 }, node },
  value: value(i, tag),
});

/** Distinct pseudo-random indexes (xorshift32 from a fixed seed: every run compares the same keys). */
function pick(count: number, seed: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const out = new Set<number>();
  let x = seed;
  while (out.size < count) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const i = (x >>> 0) % N;
    if (!exclude.has(i)) out.add(i);
  }
  return [...out];
}

interface Scenario {
  readonly name: string;
  /** Keys A lacks, keys B lacks, and keys B holds a newer value of. */
  readonly missingOnA: readonly number[];
  readonly missingOnB: readonly number[];
  readonly changedOnB: readonly number[];
}

function scenarios(): Scenario[] {
  const half = pick(D / 2, 7);
  return [
    { name: 'values_changed', missingOnA: [], missingOnB: [], changedOnB: pick(D, 1) },
    { name: 'missing_one_side', missingOnA: [], missingOnB: pick(D, 2), changedOnB: [] },
    { name: 'missing_both_sides', missingOnA: half, missingOnB: pick(D / 2, 11, new Set(half)), changedOnB: [] },
    { name: 'consecutive_changed', missingOnA: [], missingOnB: [], changedOnB: Array.from({ length: D }, (_, j) => Math.floor(N / 3) + j) },
    { name: 'identical', missingOnA: [], missingOnB: [], changedOnB: [] },
  ];
}

async function replica(id: string, base: readonly Entry[], missing: ReadonlySet<number>, changed: ReadonlyMap<number, Entry>): Promise<Store> {
  const store = await Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: id });
  const merges: Promise<boolean>[] = [];
  for (let i = 0; i < N; i++) if (!missing.has(i)) merges.push(store.merge(key(i), changed.get(i) ?? base[i]!));
  await Promise.all(merges);
  for (let s = 0; s < SHARDS; s++) store.shardRoot(s); // hash the trees before the clock starts
  return store;
}

const recordBytes = (i: number, entry: Entry): number => Buffer.byteLength(key(i)) + encodeEntry(entry).length;

async function run(scenario: Scenario, base: readonly Entry[]): Promise<Record<string, unknown>> {
  const changed = new Map(scenario.changedOnB.map((i) => [i, register(i, 'b', T0 + 1_800_000, 'new')]));
  const a = await replica('a', base, new Set(scenario.missingOnA), new Map());
  const b = await replica('b', base, new Set(scenario.missingOnB), changed);
  const minBytes =
    scenario.missingOnA.reduce((n, i) => n + recordBytes(i, base[i]!), 0) +
    scenario.missingOnB.reduce((n, i) => n + recordBytes(i, base[i]!), 0) +
    [...changed].reduce((n, [i, entry]) => n + recordBytes(i, entry), 0);
  const differing = scenario.missingOnA.length + scenario.missingOnB.length + changed.size;

  const responder = new Responder({ store: b });
  let aToB = 0;
  let bToA = 0;
  let busy = 0;
  let inFlight = 0;
  let busySince = 0;
  const started = performance.now();
  const report = await runSession({
    store: a,
    limits: { concurrency: CONCURRENCY },
    transport: async (request) => {
      aToB += request.length;
      if (inFlight++ === 0) busySince = performance.now();
      const reply = await responder.handle(request);
      if (--inFlight === 0) busy += performance.now() - busySince;
      bToA += reply.length;
      return reply;
    },
  });
  const wall = performance.now() - started;
  const converged = Array.from({ length: SHARDS }, (_, s) => toHex(a.shardRoot(s)) === toHex(b.shardRoot(s))).every(Boolean);
  await a.close();
  await b.close();
  if (report.error !== null) throw report.error;
  const cpuA = wall - busy;
  const total = aToB + bToA;
  return {
    scenario: scenario.name,
    keys: N,
    differing,
    bytes_a_to_b: aToB,
    bytes_b_to_a: bToA,
    min_bytes: minBytes,
    overhead_bytes: total - minBytes,
    round_trips: report.roundTrips,
    records_ratio: differing === 0 ? 0 : Number(((report.recordsSent + report.recordsReceived) / differing).toFixed(3)),
    cpu_ms_a: Math.round(cpuA),
    cpu_ms_b: Math.round(busy),
    modelled_ms: Math.round(total / LINK_BYTES_PER_MS + report.roundTrips * RTT_MS + wall),
    converged,
  };
}

async function main(): Promise<void> {
  const base = Array.from({ length: N }, (_, i) => register(i, 'a', T0, 'v'));
  for (const scenario of scenarios()) process.stdout.write(`${JSON.stringify(await run(scenario, base))}\n`);
}

await main();
