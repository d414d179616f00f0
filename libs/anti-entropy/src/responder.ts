/**
 * The responder: answers a peer's session messages from the local store. It trusts nothing: a
 * message is decoded and every op validated (shards, keys, sizes, the tree version it names)
 * before anything is applied, so a malformed or hostile message gets an error reply with a
 * stable code and changes nothing. Well-formed pushes are merged like any replicated change:
 * a CRDT join cannot lose what the store already holds.
 */
import { checkKey, isKvError } from '#commands';
import { compareStamps, compareVersions, type Entry, type Version } from '#crdt';
import { EMPTY_ROOT, equalBytes, keysFromLayer, type MerkleSearchTree, rangeFingerprint, SnapshotCache, summarize, topKeys } from '#mst';
import { type ReplicaStore } from '#store';
import {
  type BatchRequest,
  decodeRequest,
  encodeBatchReply,
  encodeHelloReply,
  encodeReply,
  encodeResult,
  type FetchAnswer,
  type HelloRequest,
  type HelloShard,
  type Op,
  type OpResult,
  PROTOCOL_VERSION,
  type ProtocolVersion,
  type TopRanges,
} from './codec.js';
import { AntiEntropyError } from './errors.js';
import {
  differingPieces,
  differingRanges,
  estimateDifferences,
  estimateFromPieces,
  keysWithFingerprints,
  rangesOf,
  refinePays,
  scanPlan,
  sketchCells,
  sketchRanges,
  wholeRanges,
} from './reconcile.js';

export interface ResponderLimits {
  /** Largest request accepted, in bytes. Default 1 MiB (a NATS message, a text-protocol line). */
  readonly maxRequestBytes: number;
  /** Fetch and range results stop growing past this many reply bytes (at least one entry goes). Default 512 KiB. */
  readonly maxReplyBytes: number;
  /** Most ops in one batch. Default 1,024. */
  readonly maxOps: number;
  /** Most node references in one summaries op. Default 16,384. */
  readonly maxRefs: number;
  /** Most keys in one fetch or push op. Default 65,536. */
  readonly maxKeys: number;
  /** Longest key. Default 1 MiB (the text protocol's line). */
  readonly maxKeyBytes: number;
  /** Largest register value a push may carry. Default 1 MiB. */
  readonly maxValueBytes: number;
  /** Tree versions kept per shard for sessions in progress. Default 8. */
  readonly snapshots: number;
  /**
   * How long a batch may work before its remaining sketch and resolve ops, which read the trees
   * and may take seconds each on a large shard, are put off (v4): answered 'deferred', asked again
   * in the initiator's next round. A reply then waits on at most this plus one op, never on a
   * message full of them. Default 1,000 ms.
   */
  readonly maxBatchMs: number;
  /**
   * The newest session protocol answered; a request of a newer one gets VERSION, and the
   * initiator falls back to this one. Default: the newest this release speaks (pin it lower
   * only to stay with an older release's protocol).
   */
  readonly maxVersion: ProtocolVersion;
}

export const RESPONDER_DEFAULTS: ResponderLimits = {
  maxRequestBytes: 1 << 20,
  maxReplyBytes: 512 << 10,
  maxOps: 1024,
  maxRefs: 16_384,
  maxKeys: 65_536,
  maxKeyBytes: 1 << 20,
  maxValueBytes: 1 << 20,
  snapshots: 8,
  maxBatchMs: 1000,
  maxVersion: PROTOCOL_VERSION,
};

export interface ResponderOptions {
  readonly store: ReplicaStore;
  /** Whether this node takes part in anti-entropy right now. Default: always. */
  readonly available?: () => boolean;
  /** Whether this node's outbox and replication backlog are empty now (told to the initiator). Default: true. */
  readonly clean?: () => Promise<boolean>;
  readonly limits?: Partial<ResponderLimits>;
}

export interface ResponderStats {
  readonly requests: number;
  /** Requests answered with an error reply. */
  readonly errors: number;
  /** Keys pushed by peers that changed the local store. */
  readonly merged: number;
}

export class Responder {
  readonly #store: ReplicaStore;
  readonly #available: () => boolean;
  readonly #clean: () => Promise<boolean>;
  readonly #limits: ResponderLimits;
  readonly #caches: SnapshotCache[];
  #requests = 0;
  #errors = 0;
  #merged = 0;

  constructor(options: ResponderOptions) {
    this.#store = options.store;
    this.#available = options.available ?? (() => true);
    this.#clean = options.clean ?? (() => Promise.resolve(true));
    this.#limits = { ...RESPONDER_DEFAULTS, ...options.limits };
    this.#caches = Array.from({ length: this.#store.shardCount }, () => new SnapshotCache(this.#limits.snapshots));
  }

  get stats(): ResponderStats {
    return { requests: this.#requests, errors: this.#errors, merged: this.#merged };
  }

  /** Answers one request. Never throws: every failure becomes an error reply. */
  async handle(bytes: Uint8Array): Promise<Uint8Array> {
    this.#requests++;
    try {
      if (bytes.length > this.#limits.maxRequestBytes) {
        throw new AntiEntropyError('TOO_LARGE', `a request of ${bytes.length} bytes exceeds ${this.#limits.maxRequestBytes}`);
      }
      if (!this.#available()) throw new AntiEntropyError('UNAVAILABLE', 'anti-entropy is paused on this node (replication disabled or stopping)');
      const request = decodeRequest(bytes, { maxKeyBytes: this.#limits.maxKeyBytes, maxRefs: this.#limits.maxRefs });
      if (request.version > this.#limits.maxVersion) {
        throw new AntiEntropyError('VERSION', `protocol version ${request.version} is not spoken here (this node speaks 1 to ${this.#limits.maxVersion})`);
      }
      return request.kind === 'hello' ? await this.#hello(request) : await this.#batch(request);
    } catch (err) {
      this.#errors++;
      const error = err instanceof AntiEntropyError ? err : new AntiEntropyError('PROTOCOL', `the request failed here: ${String(err)}`);
      return encodeReply({ kind: 'error', code: error.code, message: error.message });
    }
  }

  async #hello(hello: HelloRequest): Promise<Uint8Array> {
    const store = this.#store;
    if (hello.shards.length !== store.shardCount) {
      throw new AntiEntropyError('MISMATCH', `this node has ${store.shardCount} shards, the peer ${hello.shards.length}`);
    }
    const fanout = store.shardSnapshot(0).fanout;
    if (hello.fanout !== fanout) throw new AntiEntropyError('MISMATCH', `this node's trees have fanout ${fanout}, the peer's ${hello.fanout}`);
    // The initiator's truncations first: the roots compared below are those after them.
    await Promise.all(
      hello.shards.map((shard, i) => (compareStamps(shard.floor, store.shardFloor(i)) > 0 ? store.applyTruncate(i, shard.floor) : undefined)),
    );
    const shards: HelloShard[] = hello.shards.map((theirs, i) => {
      const floor = store.shardFloor(i);
      if (equalBytes(store.shardRoot(i), theirs.root)) return { root: null, floor, summary: null, top: null };
      const cache = this.#caches[i]!;
      const root = cache.remember(store.shardSnapshot(i));
      // An initiator with an empty tree streams the shard instead of comparing it.
      if (equalBytes(theirs.root, EMPTY_ROOT) || equalBytes(root, EMPTY_ROOT)) return { root, floor, summary: null, top: null };
      const tree = cache.get(root)!;
      if (hello.version === 1) return { root, floor, summary: summarize(tree, { hash: root, lo: null }) ?? null, top: null };
      return { root, floor, summary: null, top: topRanges(tree, hello.salt) };
    });
    return encodeHelloReply({ kind: 'hello', version: hello.version, node: store.nodeId, clean: await this.#clean(), shards });
  }

  async #batch(batch: BatchRequest): Promise<Uint8Array> {
    if (batch.ops.length > this.#limits.maxOps) throw new AntiEntropyError('TOO_LARGE', `${batch.ops.length} ops in one batch (limit ${this.#limits.maxOps})`);
    for (const op of batch.ops) this.#validate(op);
    let budget = this.#limits.maxReplyBytes;
    const results: Uint8Array[] = [];
    const started = performance.now();
    for (const op of batch.ops) {
      const putOff =
        batch.version >= 4 && results.length > 0 && (op.op === 'sketch' || op.op === 'resolve') && performance.now() - started >= this.#limits.maxBatchMs;
      const result = encodeResult(putOff ? { op: 'deferred' } : await this.#run(op, budget, batch.version));
      budget -= result.length;
      results.push(result);
    }
    return encodeBatchReply(results, batch.version);
  }

  #validate(op: Op): void {
    const store = this.#store;
    if (op.shard >= store.shardCount) throw new AntiEntropyError('BAD_SHARD', `shard ${op.shard} outside 0..${store.shardCount - 1}`);
    switch (op.op) {
      case 'summaries':
        if (this.#caches[op.shard]!.get(op.request.root) === undefined) {
          throw new AntiEntropyError('STALE', `shard ${op.shard}: no tree version with the root asked for (start a new session)`);
        }
        return;
      case 'fetch':
        this.#checkCount(op.keys.length);
        for (const key of op.keys) this.#checkKey(key, op.shard);
        return;
      case 'push':
        this.#checkCount(op.entries.length);
        for (const [key, entry] of op.entries) {
          this.#checkKey(key, op.shard);
          this.#checkEntry(key, entry);
        }
        return;
      case 'range':
        if (op.after !== null) this.#checkKey(op.after, op.shard);
        return;
      case 'sketch':
        this.#snapshot(op.shard, op.root);
        if (op.cells % 4 !== 0) throw new AntiEntropyError('PROTOCOL', `a sketch of ${op.cells} cells (a multiple of 4)`);
        if (op.pieces !== undefined && op.pieces.fingerprints.length !== op.spans.reduce((n, span) => n + span.cuts.length + 1, 0)) {
          throw new AntiEntropyError('PROTOCOL', 'a sketch op with pieces for another number of ranges');
        }
        return;
      case 'resolve':
        this.#snapshot(op.shard, op.root);
        this.#checkCount(op.spans.reduce((n, span) => n + span.keyFingerprints.length, 0));
        return;
      case 'verify':
        return;
    }
  }

  /** The tree version a v2 op names: the one its hello announced. */
  #snapshot(shard: number, root: Uint8Array): MerkleSearchTree {
    const tree = this.#caches[shard]!.get(root);
    if (tree === undefined) throw new AntiEntropyError('STALE', `shard ${shard}: no tree version with the root asked for (start a new session)`);
    return tree;
  }

  #checkCount(count: number): void {
    if (count > this.#limits.maxKeys) throw new AntiEntropyError('TOO_LARGE', `${count} keys in one op (limit ${this.#limits.maxKeys})`);
  }

  #checkKey(key: string, shard: number): void {
    try {
      checkKey(key);
    } catch (err) {
      if (isKvError(err)) throw new AntiEntropyError('BAD_KEY', `${err.message}: ${JSON.stringify(key.slice(0, 64))}`);
      throw err;
    }
    if (Buffer.byteLength(key) > this.#limits.maxKeyBytes) throw new AntiEntropyError('BAD_KEY', `a key of ${Buffer.byteLength(key)} bytes`);
    const home = this.#store.shardOf(key);
    if (home !== shard) throw new AntiEntropyError('BAD_SHARD', `key ${JSON.stringify(key.slice(0, 64))} belongs to shard ${home}, not ${shard}`);
  }

  #checkEntry(key: string, entry: Entry): void {
    if (entry.type === 'register' && entry.value.length > this.#limits.maxValueBytes) {
      throw new AntiEntropyError('TOO_LARGE', `the value of ${JSON.stringify(key.slice(0, 64))} has ${entry.value.length} bytes (limit ${this.#limits.maxValueBytes})`);
    }
  }

  async #run(op: Op, budget: number, version: ProtocolVersion): Promise<OpResult> {
    const store = this.#store;
    switch (op.op) {
      case 'summaries':
        return { op: 'summaries', response: this.#caches[op.shard]!.serve(op.request) };
      case 'fetch': {
        const answers: FetchAnswer[] = [];
        const entries = store.readMany(op.keys);
        for (const [i, key] of op.keys.entries()) {
          if (answers.length > 0 && budget <= 0) break;
          const answer = answerFetch(entries[i], op.versions[i] ?? null);
          budget -= key.length + entrySize(answer.entry);
          answers.push(answer);
        }
        return { op: 'fetch', answers };
      }
      case 'push': {
        const changed = await Promise.all(op.entries.map(([key, entry]) => store.merge(key, entry)));
        const count = changed.filter(Boolean).length;
        this.#merged += count;
        // A merge copies the nodes of its key's path away from the snapshots, which keep the old
        // ones, loaded: a repair of many keys would hold a copy of most of the shard's leaves.
        for (const tree of this.#caches[op.shard]!.snapshots()) store.trimSnapshot(tree);
        return { op: 'push', changed: count };
      }
      case 'range': {
        const entries: [string, Entry][] = [];
        const after = op.after === null ? undefined : Buffer.from(op.after, 'utf8');
        let more = false;
        const tree = store.shardSnapshot(op.shard);
        for (const { key } of tree.entries(after === undefined ? {} : { start: after })) {
          if (after !== undefined && equalBytes(key, after)) continue;
          if (entries.length > 0 && budget <= 0) {
            more = true;
            break;
          }
          const name = Buffer.from(key).toString('utf8');
          const entry = store.read(name);
          if (entry === undefined) continue; // collected since the snapshot
          budget -= key.length + entrySize(entry);
          entries.push([name, entry]);
        }
        store.trimSnapshot(tree);
        return { op: 'range', entries, more };
      }
      case 'sketch': {
        const tree = this.#snapshot(op.shard, op.root);
        const ranges = rangesOf(op.spans);
        // Ranges known to differ (v4) are the pieces a refine answer named.
        const differs = op.known === true ? ranges.map(() => true) : differingRanges(tree, ranges, op.spans.flatMap((span) => span.fingerprints), op.salt);
        const pieces = op.pieces === undefined ? undefined : differingPieces(tree, ranges, differs, op.pieces, op.salt);
        const plan = pieces === undefined ? wholeRanges(differs) : scanPlan(differs, op.pieces!.layer, pieces);
        if (pieces !== undefined && version >= 4 && refinePays(plan, op.pieces!, tree.fanout)) {
          store.trimSnapshot(tree);
          return { op: 'refine', differs, pieces };
        }
        const estimate = op.pieces === undefined ? estimateDifferences(ranges.length, differs.filter(Boolean).length) : estimateFromPieces(plan, op.pieces);
        // A key both sides hold differently is two items of the difference (theirs and ours), and
        // the estimate is off by about 10% at a few hundred ranges: room for 2.4 items a key.
        const cells = op.cells > 0 ? Math.min(op.cells, sketchCells(Infinity, budget)) : sketchCells(Math.ceil(2.4 * estimate), budget);
        const { sketch, items } = sketchRanges(tree, ranges, plan, cells, op.salt);
        store.trimSnapshot(tree);
        return pieces === undefined ? { op: 'sketch', differs, items, sketch } : { op: 'sketch', differs, items, sketch, pieces };
      }
      case 'resolve': {
        const tree = this.#snapshot(op.shard, op.root);
        const keys = op.spans.flatMap((span) => keysWithFingerprints(tree, span, new Set(span.keyFingerprints), op.salt).map(([key]) => key));
        store.trimSnapshot(tree);
        const entries = store.readMany(keys).flatMap((entry, i): [string, Entry][] => (entry === undefined ? [] : [[keys[i]!, entry]]));
        return { op: 'resolve', entries };
      }
      case 'verify':
        return { op: 'verify', root: store.shardRoot(op.shard) };
    }
  }
}

/** Keys the top cuts a shard with, at least (a root node may hold a single key). */
const TOP_KEYS = 8;

/**
 * The ranges a tree's keys of its highest layers cut it into, with their fingerprints: a v2
 * hello's first look. The root's layer, or lower until that layer and those above hold TOP_KEYS.
 */
function topRanges(tree: MerkleSearchTree, salt: number): TopRanges | null {
  const top = topKeys(tree);
  if (top === null) return null;
  let { layer, keys } = top;
  while (keys.length < TOP_KEYS && layer > 0) keys = keysFromLayer(tree, --layer, null, null);
  const bounds = [null, ...keys, null];
  const fingerprints = keys.concat([new Uint8Array(0)]).map((_, i) => rangeFingerprint(tree, bounds[i]!, bounds[i + 1]!, salt));
  return { layer, keys, fingerprints };
}

/**
 * Sends our entry only where the initiator's does not beat it outright, and asks for theirs only
 * where ours does not: a key that differs crosses the link once, in the direction of the winner
 * (both ways only for equal versions, which must be joined: a counter or set both sides changed,
 * or an entry whose expiry a touch changed on one side).
 */
function answerFetch(mine: Entry | undefined, theirs: Version | null): FetchAnswer {
  if (theirs === null) return { entry: mine ?? null, want: false };
  if (mine === undefined) return { entry: null, want: true };
  const order = compareVersions(mine, theirs);
  return { entry: order >= 0 ? mine : null, want: order <= 0 };
}

/** About what an entry costs on the wire, without encoding it twice. */
function entrySize(entry: Entry | null): number {
  if (entry === null) return 1;
  switch (entry.type) {
    case 'register':
      return 32 + entry.value.length;
    case 'tombstone':
      return 32;
    case 'counter':
      return 32 + 24 * (entry.inc.size + entry.dec.size);
    case 'set': {
      let n = 32 + 16 * entry.removed.length;
      for (const [element, tags] of entry.elements) n += element.length + 16 * tags.length;
      return n;
    }
  }
}
