/**
 * Anti-entropy benchmark: two replicas (24-byte keys, 100-byte values, 16 shards) that differ,
 * repaired by one session through a simulated link that counts every byte, and, on the same two
 * sets of (key, version hash) items, a negentropy reconciliation (NIP-77, @nostr-dev-kit/sync)
 * for comparison. One JSON line on stdout, progress on stderr.
 *
 * Scenarios at `--keys` N (default 1,000,000): 1% of the keys with newer values on B
 * (scattered), missing on B, missing half on each side, 1% consecutive keys changed, 10
 * scattered values changed, identical. Their replicas are built like the big one (`--build
 * bulk`, the default), or are real stores over the memory engine filled by merges (`--build
 * stores`: minutes a scenario at 1M keys, and the session's CPU then holds the store's own
 * work too: its commit loop, tree checkpoints and scrub). A bulk-built tree is the tree a store
 * holds for the same entries (its digests are the store's entryDigest, and a Merkle Search
 * Tree is a function of its (key, digest) set): every bulk run first checks that on 20,000 keys,
 * root by root against real stores (checkBulkMatchesStores). Then
 * `--big-keys` M (default 10,000,000; 0 skips it) with 0.1% scattered values changed: two
 * replicas of that size as real stores would take tens of GB and most of an hour to fill here, so
 * each side is a ReplicaStore whose shard trees are bulk-built from sorted keys
 * (MerkleSearchTree.fromSorted, the store's own digests) and whose entries are derived from the
 * key on read, with merges kept in an overlay: the session, the responder, the trees and the wire
 * are the real ones. Negentropy runs on replicas up to `--negentropy-keys` (default 1,000,000).
 *
 * Per scenario:
 *   min_bytes            the differing records themselves (key + encoded entry of the side that
 *                        wins): what any repair must move
 *   overhead_bytes       everything else both ways (bytes_a_to_b + bytes_b_to_a - min_bytes)
 *   round_trips          sequential waits on the link, the hello included
 *   cpu_ms               CPU time of both sides (one process) during the session; the heap is
 *                        collected first (npm runs the bench with --expose-gc): building the
 *                        replicas leaves ~120 MB of garbage, whose collection (marking the
 *                        replicas' trees too) otherwise lands in some sessions and not others,
 *                        980-1,030 against 740-750 ms at 1M keys, values changed
 *   modelled_ms          bytes / 6.25 MB/s (50 Mbps) + round trips x 20 ms + cpu_ms
 *   negentropy           its reconciliation of the same items (ids = SHA-256(key | version hash),
 *                        no frame limit): bytes and round trips to learn the differing ids; moving
 *                        the records would add min_bytes and one more round trip
 */
import { createHash } from 'node:crypto';
import { Negentropy, NegentropyStorage } from '@nostr-dev-kit/sync';
import { encodeEntry, type Entry, entryDigest, merge, type Stamp, ZERO_STAMP } from '#crdt';
import { MerkleSearchTree, toHex } from '#mst';
import { MemoryEngine, type ReplicaStore, shardOf, Store } from '#store';
import { Responder, runSession, type SessionReport } from '#anti-entropy';
import { positive } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';

const flags = benchCommandLine({
  bench: 'anti-entropy',
  flags: {
    keys: { hint: 'N', description: 'keys of each replica in the main scenarios', default: '1000000' },
    'big-keys': { hint: 'N', description: 'keys of each replica in the 0.1% scenario (0 skips it)', default: '10000000' },
    concurrency: { hint: 'N', description: "the session's messages in flight", default: '64' },
    build: { hint: 'bulk|stores', description: 'how the main scenarios build their replicas (stores: real stores filled by merges, much slower)', default: 'bulk' },
    scenarios: { hint: 'A,B', description: 'run only these of the main scenarios (names as printed)' },
    'warm-up': { hint: 'N', description: 'keys of each replica in an unmeasured session run first (0 skips it)', default: '50000' },
    'negentropy-keys': { hint: 'N', description: 'largest replica negentropy is run on (its items are JavaScript objects: ~300 B each)', default: '1000000' },
  },
  notes: ['Runs in this process, over a simulated link (npm runs it with --expose-gc). One JSON line on stdout, progress on stderr.'],
});
const N = Math.floor(positive('keys', flags.keys));
const BIG = Math.floor(Number(flags['big-keys']));
if (!Number.isInteger(BIG) || BIG < 0) {
  process.stderr.write('--big-keys must be a whole number (0 skips the scenario)\n');
  process.exit(2);
}
const CONCURRENCY = Math.floor(positive('concurrency', flags.concurrency));
type Build = 'stores' | 'bulk';
if (flags.build !== 'stores' && flags.build !== 'bulk') {
  process.stderr.write('--build is stores or bulk\n');
  process.exit(2);
}
const BUILD: Build = flags.build;
const NEGENTROPY_KEYS = Math.floor(positive('negentropy-keys', flags['negentropy-keys']));
const WARM_UP = Math.floor(Number(flags['warm-up']));
if (!Number.isInteger(WARM_UP) || WARM_UP < 0) {
  process.stderr.write('--warm-up must be a whole number (0 skips it)\n');
  process.exit(2);
}
const SHARDS = 16;
const LINK_BYTES_PER_MS = 6250; // 50 Mbps
const RTT_MS = 20;
const T0 = Date.now() - 3_600_000;
const gc = (globalThis as { gc?: () => void }).gc;

const progress = (text: string): boolean => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`);
const key = (i: number): string => `key:${String(i).padStart(20, '0')}`;
const register = (i: number, node: string, wall: number, tag: string): Entry => ({
  type: 'register',
  stamp: { hlc: { wall: wall + Math.floor(i / 1000), logical: i % 1000 }, node },
  value: Buffer.from(`${tag}:${i}:`.padEnd(100, 'x')),
});
const base = (i: number): Entry => register(i, 'a', T0, 'v');
const newer = (i: number): Entry => register(i, 'b', T0 + 1_800_000, 'new');

/** Distinct pseudo-random indexes below `n` (xorshift32 from a fixed seed: every run compares the same keys). */
function pick(n: number, count: number, seed: number, exclude: ReadonlySet<number> = new Set()): number[] {
  const out = new Set<number>();
  let x = seed;
  while (out.size < count) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const i = (x >>> 0) % n;
    if (!exclude.has(i)) out.add(i);
  }
  return [...out];
}

interface Scenario {
  readonly name: string;
  readonly keys: number;
  /** Keys A lacks, keys B lacks, and keys B holds a newer value of. */
  readonly missingOnA: readonly number[];
  readonly missingOnB: readonly number[];
  readonly changedOnB: readonly number[];
}

function scenarios(n: number): Scenario[] {
  const d = Math.round(n / 100);
  const half = pick(n, Math.floor(d / 2), 7);
  const none = { missingOnA: [], missingOnB: [], changedOnB: [] };
  return [
    { name: 'values_changed', keys: n, ...none, changedOnB: pick(n, d, 1) },
    { name: 'missing_one_side', keys: n, ...none, missingOnB: pick(n, d, 2) },
    { name: 'missing_both_sides', keys: n, ...none, missingOnA: half, missingOnB: pick(n, Math.ceil(d / 2), 11, new Set(half)) },
    { name: 'consecutive_changed', keys: n, ...none, changedOnB: Array.from({ length: d }, (_, j) => Math.floor(n / 3) + j) },
    { name: 'ten_differences', keys: n, ...none, changedOnB: pick(n, 10, 3) },
    { name: 'identical', keys: n, ...none },
  ];
}

async function realReplica(id: string, n: number, missing: ReadonlySet<number>, changed: ReadonlySet<number>): Promise<Store> {
  const store = await Store.open({ engine: new MemoryEngine(), shards: SHARDS, nodeId: id });
  const merges: Promise<boolean>[] = [];
  for (let i = 0; i < n; i++) if (!missing.has(i)) merges.push(store.merge(key(i), changed.has(i) ? newer(i) : base(i)));
  await Promise.all(merges);
  for (let s = 0; s < SHARDS; s++) store.shardRoot(s); // hash the trees before the clock starts
  return store;
}

/**
 * The two replicas of a scenario built for size: per shard, trees bulk-built from the sorted keys
 * and the store's digests (one shard's arrays at a time); entries derived from the key on read;
 * merges land in an overlay and in the tree, as a store's would.
 */
function bulkPair(scenario: Scenario): [ReplicaStore, ReplicaStore] {
  const changed = new Set(scenario.changedOnB);
  const missing = [new Set(scenario.missingOnA), new Set(scenario.missingOnB)] as const;
  const trees: [MerkleSearchTree[], MerkleSearchTree[]] = [[], []];
  const byShard: number[][] = Array.from({ length: SHARDS }, () => []);
  for (let i = 0; i < scenario.keys; i++) byShard[shardOf(key(i), SHARDS)]!.push(i);
  byShard.forEach((indexes, shard) => {
    const keys = indexes.map((i) => Buffer.from(key(i)));
    const digests = indexes.map((i) => entryDigest(base(i)));
    for (const side of [0, 1] as const) {
      const held = indexes.flatMap((i, j) => (missing[side].has(i) ? [] : [j]));
      const sideDigests = held.map((j) => (side === 1 && changed.has(indexes[j]!) ? entryDigest(newer(indexes[j]!)) : digests[j]!));
      trees[side].push(MerkleSearchTree.fromSorted(held.map((j) => keys[j]!), sideDigests));
    }
    byShard[shard] = [];
  });
  return [bulkReplica('a', missing[0], new Set(), trees[0]), bulkReplica('b', missing[1], changed, trees[1])];
}

function bulkReplica(id: string, missing: ReadonlySet<number>, changed: ReadonlySet<number>, trees: readonly MerkleSearchTree[]): ReplicaStore {
  // Merged entries, and those derived once (a store's entry cache: the session reads a key it
  // repairs a few times, and deriving allocates its value each time).
  const overlay = new Map<string, Entry>();
  for (const tree of trees) tree.root();
  const read = (name: string): Entry | undefined => {
    const known = overlay.get(name);
    if (known !== undefined) return known;
    const i = Number(name.slice(4));
    if (!Number.isInteger(i) || i < 0 || missing.has(i) || key(i) !== name) return undefined;
    const entry = changed.has(i) ? newer(i) : base(i);
    overlay.set(name, entry);
    return entry;
  };
  return {
    nodeId: id,
    shardCount: SHARDS,
    shardOf: (name) => shardOf(name, SHARDS),
    shardRoot: (shard) => trees[shard]!.root(),
    read,
    readMany: (names) => names.map(read),
    update: () => Promise.reject(new Error('the synthetic replica takes merges only')),
    merge: (name, entry) => {
      const prev = read(name);
      const joined = prev === undefined ? entry : merge(prev, entry);
      // As in a store's shard: the upsert says whether the join changed anything (an equal
      // digest dirties nothing), without a lookup of the old digest first.
      const changed = trees[shardOf(name, SHARDS)]!.upsert(Buffer.from(name), entryDigest(joined));
      if (changed) overlay.set(name, joined);
      return Promise.resolve(changed);
    },
    applyTruncate: () => Promise.resolve(false),
    shardSnapshot: (shard) => trees[shard]!.snapshot(),
    trimSnapshot: () => {}, // trees in memory: nothing to give back
    shardFloor: (): Stamp => ZERO_STAMP,
    shardTombstones: function* () {},
    collectTombstone: () => Promise.resolve(false),
  };
}

/** Every (key, version hash) item of a replica as negentropy storage: id = SHA-256(key | digest), timestamp 0. */
function negentropyItems(store: ReplicaStore): NegentropyStorage {
  const storage = new NegentropyStorage();
  for (let s = 0; s < store.shardCount; s++) {
    for (const { key: k, digest } of store.shardSnapshot(s).entries()) storage.insert(0, createHash('sha256').update(k).update(digest).digest());
  }
  storage.seal();
  return storage;
}

async function negentropy(a: ReplicaStore, b: ReplicaStore): Promise<Record<string, number>> {
  const client = new Negentropy(negentropyItems(a));
  const server = new Negentropy(negentropyItems(b));
  let bytes = 0;
  let roundTrips = 0;
  let found = 0;
  let message: Uint8Array | undefined = await client.initiate();
  while (message !== undefined) {
    bytes += message.length;
    const answer = (await server.reconcile(message)).nextMessage!;
    bytes += answer.length;
    roundTrips++;
    const step = await client.reconcile(answer);
    found += step.have.length + step.need.length;
    message = step.nextMessage;
  }
  return { bytes, round_trips: roundTrips, ids_found: found };
}

async function session(a: ReplicaStore, b: ReplicaStore): Promise<{ report: SessionReport; aToB: number; bToA: number; cpuMs: number }> {
  const responder = new Responder({ store: b });
  let aToB = 0;
  let bToA = 0;
  gc?.();
  const cpu = process.cpuUsage();
  const report = await runSession({
    store: a,
    limits: { concurrency: CONCURRENCY },
    transport: async (request) => {
      aToB += request.length;
      const reply = await responder.handle(request);
      bToA += reply.length;
      return reply;
    },
  });
  const used = process.cpuUsage(cpu);
  if (report.error !== null) throw report.error;
  return { report, aToB, bToA, cpuMs: (used.user + used.system) / 1000 };
}

const recordBytes = (i: number, entry: Entry): number => Buffer.byteLength(key(i)) + encodeEntry(entry).length;

async function run(scenario: Scenario, build: Build): Promise<Record<string, unknown>> {
  progress(`${scenario.name} (${scenario.keys} keys): building both replicas`);
  const changed = new Set(scenario.changedOnB);
  const pair = async (): Promise<[ReplicaStore, ReplicaStore]> =>
    build === 'stores'
      ? [await realReplica('a', scenario.keys, new Set(scenario.missingOnA), new Set()), await realReplica('b', scenario.keys, new Set(scenario.missingOnB), changed)]
      : bulkPair(scenario);
  const [a, b] = await pair();
  progress(`${scenario.name}: session`);
  const minBytes =
    scenario.missingOnA.reduce((n, i) => n + recordBytes(i, base(i)), 0) +
    scenario.missingOnB.reduce((n, i) => n + recordBytes(i, base(i)), 0) +
    scenario.changedOnB.reduce((n, i) => n + recordBytes(i, newer(i)), 0);
  const differing = scenario.missingOnA.length + scenario.missingOnB.length + changed.size;
  const { report, aToB, bToA, cpuMs } = await session(a, b);
  const converged = Array.from({ length: SHARDS }, (_, s) => toHex(a.shardRoot(s)) === toHex(b.shardRoot(s))).every(Boolean);
  if (a instanceof Store) await a.close();
  if (b instanceof Store) await b.close();
  // Negentropy after the session, on replicas built again: its million JavaScript objects a side
  // slow down everything the process runs after them, even collected.
  let neg: Record<string, number> | string = `skipped above --negentropy-keys ${NEGENTROPY_KEYS}`;
  if (scenario.keys <= NEGENTROPY_KEYS) {
    progress(`${scenario.name}: negentropy (on the replicas built again)`);
    const [na, nb] = await pair();
    neg = await negentropy(na, nb);
    if (na instanceof Store) await na.close();
    if (nb instanceof Store) await nb.close();
  }
  const total = aToB + bToA;
  const line = {
    scenario: scenario.name,
    keys: scenario.keys,
    built: build === 'stores' ? 'real stores (memory engine), filled by merges' : 'bulk-built trees, entries derived from the keys, merges in an overlay',
    differing,
    bytes_a_to_b: aToB,
    bytes_b_to_a: bToA,
    min_bytes: minBytes,
    overhead_bytes: total - minBytes,
    round_trips: report.roundTrips,
    records_ratio: differing === 0 ? 0 : Number(((report.recordsSent + report.recordsReceived) / differing).toFixed(3)),
    cpu_ms: Math.round(cpuMs),
    modelled_ms: Math.round(total / LINK_BYTES_PER_MS + report.roundTrips * RTT_MS + cpuMs),
    protocol: report.protocolVersion,
    converged,
    negentropy: neg,
  };
  progress(JSON.stringify(line));
  return line;
}

/**
 * Bulk-built replicas stand for real ones: a store's shard tree holds each key with
 * entryDigest(entry), and a Merkle Search Tree's shape and hashes are a function of its
 * (key, digest) set alone, however it was filled. Checked here on a scenario of `n` keys: the
 * bulk-built trees and two real stores filled by merges have the same root in every shard.
 */
async function checkBulkMatchesStores(n: number): Promise<void> {
  const [scenario] = scenarios(n).filter((s) => s.name === 'missing_both_sides');
  const changed = pick(n, Math.round(n / 100), 13);
  const sample = { ...scenario!, changedOnB: changed.filter((i) => !scenario!.missingOnA.includes(i) && !scenario!.missingOnB.includes(i)) };
  const bulk = bulkPair(sample);
  const stores = [await realReplica('a', n, new Set(sample.missingOnA), new Set()), await realReplica('b', n, new Set(sample.missingOnB), new Set(sample.changedOnB))];
  for (const side of [0, 1]) {
    for (let s = 0; s < SHARDS; s++) {
      if (toHex(bulk[side]!.shardRoot(s)) !== toHex(stores[side]!.shardRoot(s))) throw new Error(`a bulk-built tree differs from the store's (side ${side}, shard ${s})`);
    }
    await stores[side]!.close();
  }
  progress(`bulk-built trees have the roots of real stores filled by merges (${n} keys, every shard of both sides)`);
}

/**
 * An unmeasured session on small replicas with every kind of difference, so that the scenarios
 * measure what a node that has run sessions before pays: a process's first session also compiles
 * the session's code (V8's optimizing compiler, on its own threads). The first scenario measured
 * 15-25% less CPU after it, in alternated runs.
 */
async function warmUp(n: number): Promise<{ keys: number; cpu_ms: number }> {
  const [scenario] = scenarios(n).filter((s) => s.name === 'missing_both_sides');
  const missing = new Set([...scenario!.missingOnA, ...scenario!.missingOnB]);
  const [a, b] = bulkPair({ ...scenario!, changedOnB: pick(n, Math.max(1, Math.round(n / 100)), 17, missing) });
  const { cpuMs } = await session(a, b);
  progress(`warm-up session (${n} keys): ${Math.round(cpuMs)} ms of CPU`);
  return { keys: n, cpu_ms: Math.round(cpuMs) };
}

async function main(): Promise<void> {
  const results: Record<string, unknown>[] = [];
  if (BUILD === 'bulk' || BIG > 0) await checkBulkMatchesStores(Math.min(N, 20_000));
  const warm = WARM_UP > 0 ? await warmUp(WARM_UP) : null;
  const only = flags.scenarios?.split(',');
  for (const scenario of scenarios(N)) if (only === undefined || only.includes(scenario.name)) results.push(await run(scenario, BUILD));
  if (BIG > 0) results.push(await run({ name: 'values_changed_0.1pct', keys: BIG, missingOnA: [], missingOnB: [], changedOnB: pick(BIG, Math.round(BIG / 1000), 5) }, 'bulk'));
  process.stdout.write(`${JSON.stringify({ bench: 'anti-entropy', link: { mbps: 50, rtt_ms: RTT_MS }, shards: SHARDS, concurrency: CONCURRENCY, gc_before_sessions: gc !== undefined, warm_up: warm, scenarios: results })}\n`);
}

await main();
