/**
 * MST benchmark: prints one JSON line on stdout (nothing else).
 *
 *   keys                        tree size (--keys, default 1M)
 *   build_keys_per_s            bulk build from sorted input (random 16-byte keys, 32-byte digests)
 *   upsert_keys_per_s           1M upserts of new random keys into a 1M tree (best of three trees)
 *   root_ms_after_10k_upserts   root() after 10k random upserts into the hashed 1M tree
 *   checkpoint_ms_after_10k_upserts  checkpoint() of a persisted 1M tree (records kept in a Map)
 *                               after 10k random upserts: hashes and encodes every changed node;
 *                               checkpoint_vs_root is its ratio to root_ms_after_10k_upserts (the
 *                               hashing alone of the same kind of change, measured in the same run),
 *                               checkpoint_records and checkpoint_bytes what it stored
 *   full_root_ms                first root() after a bulk build: every node hashed
 *   bytes_per_key               growth of heapUsed + external from the build (after a full GC), per key
 *   diff_ms_1pct                local diff of two independently built 1M trees differing in 1% of
 *                               keys (a third each: removed, digest changed, added); roots hashed first
 *   remote_*                    the same difference found by the remote descent through the binary
 *                               codec, in process: time, round trips, summaries, bytes each way
 *   ref_sha256_keys_per_s       reference measured in the same run: node:crypto one-shot SHA-256 of
 *                               each key, the ceiling of any build that hashes keys one call at a time
 *
 * The machine is shared: each timing is the best of two or three repetitions.
 */
import { hash, randomBytes } from 'node:crypto';
import {
  decodeRequest,
  decodeResponse,
  diff,
  DiffSession,
  encodeRequest,
  encodeResponse,
  MerkleSearchTree,
  SnapshotCache,
  treeStats,
} from '#mst';
import { positive } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';

const flags = benchCommandLine({
  bench: 'mst',
  flags: { keys: { hint: 'N', description: 'tree size', default: '1000000' } },
  notes: ['Runs in this process (npm runs it with --expose-gc). One JSON line on stdout.'],
});
const N = Math.floor(positive('keys', flags.keys));
const KEY = 16;
const DIGEST = 32;
const REPEAT = 3;

const gc = (globalThis as { gc?: () => void }).gc;
function heap(): number {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

function time(f: () => void): number {
  const t = performance.now();
  f();
  return performance.now() - t;
}

function best(times: number, f: () => number): number {
  let min = Infinity;
  for (let i = 0; i < times; i++) min = Math.min(min, f());
  return min;
}

const round = (x: number, digits = 0): number => Number(x.toFixed(digits));

/** n random keys, sorted, in one buffer: the bench's own inputs should not load the GC. */
function sortedKeys(n: number): Buffer {
  const raw = randomBytes(n * KEY);
  const views = Array.from({ length: n }, (_, i) => raw.subarray(i * KEY, (i + 1) * KEY)).sort(Buffer.compare);
  const out = Buffer.allocUnsafe(n * KEY);
  views.forEach((v, i) => v.copy(out, i * KEY));
  return out;
}

const views = (buf: Buffer, size: number): Buffer[] => Array.from({ length: buf.length / size }, (_, i) => buf.subarray(i * size, (i + 1) * size));

function buildOnce(keys: Buffer, digests: Buffer): { tree: MerkleSearchTree; buildMs: number; fullRootMs: number; bytesPerKey: number } {
  const k = views(keys, KEY);
  const d = views(digests, DIGEST);
  const before = heap();
  let tree = new MerkleSearchTree();
  const buildMs = time(() => (tree = MerkleSearchTree.fromSorted(k, d)));
  const fullRootMs = time(() => tree.root());
  const bytesPerKey = (heap() - before) / N;
  // Keep the inputs alive until measured: otherwise their collection counts against the tree.
  if (k.length !== N || d.length !== N) throw new Error('unreachable');
  return { tree, buildMs, fullRootMs, bytesPerKey };
}

function upsertRun(tree: MerkleSearchTree): number {
  const fresh = randomBytes(N * KEY);
  const freshDigests = randomBytes(N * DIGEST);
  heap();
  const ms = time(() => {
    for (let i = 0; i < N; i++) tree.upsert(fresh.subarray(i * KEY, (i + 1) * KEY), freshDigests.subarray(i * DIGEST, (i + 1) * DIGEST));
  });
  tree.clear();
  return ms;
}

/** checkpoint() of a persisted tree after 10k random upserts (best of three), and what it stored. */
function checkpointRun(keys: Buffer, digests: Buffer): { ms: number; records: number; bytes: number } {
  const records = new Map<number, Uint8Array>();
  const tree = MerkleSearchTree.fromSorted(views(keys, KEY), views(digests, DIGEST));
  tree.persistTo({ read: (id) => records.get(id) });
  let nextId = 1;
  let stored = { records: 0, bytes: 0 };
  const storeCheckpoint = (): void => {
    const checkpoint = tree.checkpoint(() => nextId++);
    for (const id of checkpoint.freed) records.delete(id);
    for (const [id, record] of checkpoint.records) records.set(id, record);
    stored = { records: checkpoint.records.length, bytes: checkpoint.records.reduce((sum, [, record]) => sum + record.length, 0) };
  };
  storeCheckpoint();
  const ms = best(REPEAT, () => {
    const extra = randomBytes(10_000 * KEY);
    const extraDigests = randomBytes(10_000 * DIGEST);
    for (let i = 0; i < 10_000; i++) tree.upsert(extra.subarray(i * KEY, (i + 1) * KEY), extraDigests.subarray(i * DIGEST, (i + 1) * DIGEST));
    return time(storeCheckpoint);
  });
  return { ms, ...stored };
}

function main(): void {
  const keys = sortedKeys(N);
  const digests = randomBytes(N * DIGEST);

  const refMs = time(() => {
    for (let i = 0; i < N; i++) hash('sha256', keys.subarray(i * KEY, (i + 1) * KEY), 'buffer');
  });

  // Build and full root, twice on fresh trees (each in its own frame, so that nothing of the
  // first survives into the second's memory measurement).
  const first = buildOnce(keys, digests);
  const second = buildOnce(keys, digests);
  const buildMs = Math.min(first.buildMs, second.buildMs);
  const fullRootMs = Math.min(first.fullRootMs, second.fullRootMs);
  const bytesPerKey = second.bytesPerKey;
  let tree = second.tree;
  const stats = treeStats(tree);

  const rootAfter10kMs = best(REPEAT, () => {
    const extra = randomBytes(10_000 * KEY);
    const extraDigests = randomBytes(10_000 * DIGEST);
    for (let i = 0; i < 10_000; i++) tree.upsert(extra.subarray(i * KEY, (i + 1) * KEY), extraDigests.subarray(i * DIGEST, (i + 1) * DIGEST));
    return time(() => tree.root());
  });

  const checkpoint = checkpointRun(keys, digests);

  // 1M upserts of new keys into a 1M tree: the two trees above and a third one (best of three).
  const upsertMs = Math.min(upsertRun(first.tree), upsertRun(tree), upsertRun(MerkleSearchTree.fromSorted(views(keys, KEY), views(digests, DIGEST))));
  tree = new MerkleSearchTree();

  // Two independently built trees that differ in 1% of their keys.
  const a = MerkleSearchTree.fromSorted(views(keys, KEY), views(digests, DIGEST));
  const bKeys: Buffer[] = [];
  const bDigests: Buffer[] = [];
  const third = 300;
  for (let i = 0; i < N; i++) {
    if (i % third === 0) continue; // removed on b
    bKeys.push(keys.subarray(i * KEY, (i + 1) * KEY));
    bDigests.push(i % third === 1 ? randomBytes(DIGEST) : digests.subarray(i * DIGEST, (i + 1) * DIGEST)); // changed on b
  }
  for (const k of views(randomBytes(Math.floor(N / third) * KEY), KEY)) {
    bKeys.push(k); // added on b
    bDigests.push(randomBytes(DIGEST));
  }
  const order = bKeys.map((_, i) => i).sort((x, y) => Buffer.compare(bKeys[x]!, bKeys[y]!));
  const b = MerkleSearchTree.fromSorted(
    order.map((i) => bKeys[i]!),
    order.map((i) => bDigests[i]!),
  );
  a.root();
  b.root();
  let found = 0;
  const diffMs = best(REPEAT, () =>
    time(() => {
      const d = diff(a, b);
      found = d.localOnly.length + d.remoteOnly.length + d.different.length;
    }),
  );

  const cache = new SnapshotCache();
  const remoteRoot = cache.remember(b);
  let bytesOut = 0;
  let bytesIn = 0;
  let roundTrips = 0;
  let summaries = 0;
  let remoteFound = 0;
  const remoteMs = best(REPEAT, () =>
    time(() => {
      bytesOut = bytesIn = 0;
      const session = new DiffSession(a, remoteRoot);
      for (let req = session.nextRequest(); req !== null; req = session.nextRequest()) {
        const wireRequest = encodeRequest(req);
        const wireResponse = encodeResponse(cache.serve(decodeRequest(wireRequest)));
        bytesOut += wireRequest.length;
        bytesIn += wireResponse.length;
        session.receive(req, decodeResponse(wireResponse));
      }
      const r = session.result();
      remoteFound = r.localOnly.length + r.remoteOnly.length + r.different.length;
      roundTrips = session.stats.requests;
      summaries = session.stats.summaries;
    }),
  );

  process.stdout.write(
    `${JSON.stringify({
      keys: N,
      build_keys_per_s: round(N / (buildMs / 1000)),
      upsert_keys_per_s: round(N / (upsertMs / 1000)),
      root_ms_after_10k_upserts: round(rootAfter10kMs, 1),
      checkpoint_ms_after_10k_upserts: round(checkpoint.ms, 1),
      checkpoint_vs_root: round(checkpoint.ms / rootAfter10kMs, 2),
      checkpoint_records: checkpoint.records,
      checkpoint_bytes: checkpoint.bytes,
      full_root_ms: round(fullRootMs, 1),
      bytes_per_key: round(bytesPerKey, 1),
      diff_ms_1pct: round(diffMs, 1),
      diff_keys: found,
      remote_diff_ms_1pct: round(remoteMs, 1),
      remote_keys: remoteFound,
      remote_round_trips: roundTrips,
      remote_summaries: summaries,
      remote_bytes_out: bytesOut,
      remote_bytes_in: bytesIn,
      key_bytes: KEY,
      fanout: a.fanout,
      tree_nodes: stats.nodes,
      tree_height: stats.height,
      ref_sha256_keys_per_s: round(N / (refMs / 1000)),
      gc_exposed: gc !== undefined,
    })}\n`,
  );
}

main();
