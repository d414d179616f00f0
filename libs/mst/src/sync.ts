/**
 * Remote descent: finding the keys on which two replicas differ by exchanging node summaries.
 * Pure data in and out; the anti-entropy service carries the encoded messages over NATS
 * request/reply. Why the descent goes by key range and how a node is addressed: see the essay
 * in tree.ts.
 *
 *   initiator                                             peer
 *   session = new DiffSession(tree, peerRoot)             cache.remember(tree) -> root (announced)
 *   req = session.nextRequest()      -- encodeRequest --> serveSummaries(cache.get(req.root), req)
 *   session.receive(req, resp)       <- encodeResponse --
 *   ... until session.done; session.result()
 */
import { compareBytes, equalBytes, toHex } from './bytes.js';
import { type KeyDiff } from './diff.js';
import { MstError } from './errors.js';
import { fanoutBits, layerForBits, sha256 } from './layer.js';
import { childAt, EMPTY_ROOT, encodeNode, HASH_BYTES, hashEqualsBytes, type MstNode, nodeHash, upperBound } from './node.js';
import { coverRange, findDigest, iterate, type MerkleSearchTree, rangeHash, rootNode } from './tree.js';
import { type DecodeLimits, decodeNode, DEFAULT_MAX_KEY_BYTES, DEFAULT_MAX_REFS, NodeSummary, Reader } from './wire.js';

/**
 * Names one node of a peer's tree: its hash, and its lower range bound (the key just before
 * its range, null for the leftmost nodes). The peer finds it on the path from its root toward
 * that bound; the hash makes the answer verifiable.
 */
export interface NodeRef {
  readonly hash: Uint8Array;
  readonly lo: Uint8Array | null;
}

/** Asks for the summaries of some nodes of the peer's tree whose root hash is `root`. */
export interface SummaryRequest {
  readonly root: Uint8Array;
  readonly refs: readonly NodeRef[];
}

/** One summary per requested ref, in order; null = the peer does not have that node (any more). */
export interface SummaryResponse {
  readonly nodes: readonly (NodeSummary | null)[];
}

/** The summary of one node of a tree, or undefined when the tree has no such node. */
export function summarize(tree: MerkleSearchTree, ref: NodeRef): NodeSummary | undefined {
  const node = locate(rootNode(tree), ref);
  if (node === null) return undefined;
  return new NodeSummary(encodeNode(node), nodeHash(node), null);
}

function locate(root: MstNode | null, ref: NodeRef): MstNode | null {
  let node = root;
  while (node !== null) {
    if (hashEqualsBytes(node, ref.hash)) return node;
    node = childAt(node, ref.lo === null ? 0 : upperBound(node, ref.lo));
  }
  return null;
}

/**
 * Answers a request from `tree`, which should be the snapshot whose root the request names
 * (see {@link SnapshotCache}). With another tree every node it still shares is served, and the
 * rest comes back null (the initiator then restarts).
 */
export function serveSummaries(tree: MerkleSearchTree | undefined, request: SummaryRequest): SummaryResponse {
  return { nodes: request.refs.map((ref) => (tree === undefined ? null : (summarize(tree, ref) ?? null))) };
}

/**
 * Recent snapshots of one tree by root hash, so that a peer's session can descend a version
 * that stays put while the shard keeps writing. Bounded: the oldest snapshot goes first.
 */
export class SnapshotCache {
  readonly #byRoot = new Map<string, MerkleSearchTree>();
  constructor(readonly capacity = 8) {}

  /** Snapshots `tree` and returns its root hash (the one to announce to peers). */
  remember(tree: MerkleSearchTree): Uint8Array {
    const snap = tree.snapshot();
    const root = snap.root();
    const id = toHex(root);
    this.#byRoot.delete(id);
    this.#byRoot.set(id, snap);
    while (this.#byRoot.size > this.capacity) this.#byRoot.delete(this.#byRoot.keys().next().value!);
    return root;
  }

  get(root: Uint8Array): MerkleSearchTree | undefined {
    return this.#byRoot.get(toHex(root));
  }

  /** The snapshots kept, oldest first. */
  snapshots(): IterableIterator<MerkleSearchTree> {
    return this.#byRoot.values();
  }

  serve(request: SummaryRequest): SummaryResponse {
    return serveSummaries(this.get(request.root), request);
  }
}

// --- the initiator's side ---------------------------------------------------------------------

export interface DiffSessionOptions {
  /** Most refs per request. Default: unlimited, i.e. one request per depth of the peer's tree. */
  readonly maxBatch?: number;
}

interface Pending {
  readonly hash: Uint8Array;
  readonly lo: Uint8Array | null;
  readonly hi: Uint8Array | null;
  /** The layer of the parent: a child must be below it. */
  readonly above: number;
}

/** Counters of a session, for logs and metrics. */
export interface DiffSessionStats {
  readonly requests: number;
  readonly summaries: number;
}

/**
 * The initiator's state machine of one remote descent against a peer's tree with root hash
 * `remoteRoot`. It works on a snapshot of `local` taken at construction.
 *
 * Loop: `nextRequest()` gives the next batch to send (null when nothing is left to ask); pass
 * the peer's answer to `receive(request, response)`; when `done`, `result()` gives the exact key
 * difference. Requests may be in flight concurrently. Any error (a summary that does not hash to
 * what was asked, a key outside its range, a node the peer no longer has) ends the session.
 */
export class DiffSession {
  readonly #local: MerkleSearchTree;
  readonly #remoteRoot: Uint8Array;
  readonly #bits: number;
  readonly #maxBatch: number;
  #queue: Pending[] = [];
  readonly #outstanding = new Map<SummaryRequest, Pending[]>();
  readonly #localOnly: Uint8Array[] = [];
  readonly #remoteOnly: Uint8Array[] = [];
  readonly #different: Uint8Array[] = [];
  #failed: MstError | null = null;
  #requests = 0;
  #summaries = 0;

  constructor(local: MerkleSearchTree, remoteRoot: Uint8Array, options: DiffSessionOptions = {}) {
    if (!(remoteRoot instanceof Uint8Array) || remoteRoot.length !== HASH_BYTES) {
      throw new MstError('INVALID_ARGUMENT', `a root hash is ${HASH_BYTES} bytes`);
    }
    const maxBatch = options.maxBatch ?? Infinity;
    if (!(maxBatch >= 1)) throw new MstError('INVALID_ARGUMENT', 'maxBatch must be at least 1');
    this.#maxBatch = maxBatch;
    this.#local = local.snapshot();
    this.#bits = fanoutBits(local.fanout);
    this.#remoteRoot = remoteRoot.slice();
    if (equalBytes(remoteRoot, this.#local.root())) return;
    if (equalBytes(remoteRoot, EMPTY_ROOT)) {
      this.#collectLocal(null, null);
      return;
    }
    this.#queue.push({ hash: this.#remoteRoot, lo: null, hi: null, above: Infinity });
  }

  /** True when the difference is known. */
  get done(): boolean {
    return this.#failed === null && this.#queue.length === 0 && this.#outstanding.size === 0;
  }

  get stats(): DiffSessionStats {
    return { requests: this.#requests, summaries: this.#summaries };
  }

  /** The next batch of nodes to ask the peer for, or null if there is none right now. */
  nextRequest(): SummaryRequest | null {
    this.#checkAlive();
    if (this.#queue.length === 0) return null;
    const batch = this.#queue.length <= this.#maxBatch ? this.#queue : this.#queue.slice(0, this.#maxBatch);
    this.#queue = batch === this.#queue ? [] : this.#queue.slice(batch.length);
    const request: SummaryRequest = { root: this.#remoteRoot, refs: batch.map((p) => ({ hash: p.hash, lo: p.lo })) };
    this.#outstanding.set(request, batch);
    this.#requests++;
    return request;
  }

  /** Takes the peer's answer to a request this session made. */
  receive(request: SummaryRequest, response: SummaryResponse): void {
    this.#checkAlive();
    const batch = this.#outstanding.get(request);
    if (batch === undefined) throw new MstError('STATE', 'not a pending request of this session');
    this.#outstanding.delete(request);
    try {
      if (response.nodes.length !== batch.length) {
        throw new MstError('PROTOCOL', `asked for ${batch.length} nodes, got ${response.nodes.length}`);
      }
      for (let i = 0; i < batch.length; i++) {
        const summary = response.nodes[i]!;
        if (summary === null) throw new MstError('STALE', 'the peer no longer has the tree this session descends');
        this.#absorb(batch[i]!, summary);
      }
    } catch (err) {
      this.#failed = err instanceof MstError ? err : new MstError('PROTOCOL', 'bad response', { cause: err });
      throw this.#failed;
    }
  }

  /** The keys on which the two trees differ, each list ascending. Only once `done`. */
  result(): KeyDiff {
    this.#checkAlive();
    if (!this.done) throw new MstError('STATE', 'the descent is not finished');
    const sort = (keys: Uint8Array[]): Uint8Array[] => keys.slice().sort(compareBytes);
    return { localOnly: sort(this.#localOnly), remoteOnly: sort(this.#remoteOnly), different: sort(this.#different) };
  }

  #checkAlive(): void {
    if (this.#failed !== null) throw new MstError('STATE', `the session failed: ${this.#failed.message}`, { cause: this.#failed });
  }

  #absorb(p: Pending, s: NodeSummary): void {
    // Hash the bytes here rather than trust a hash that came with them.
    if (!equalBytes(sha256(s.bytes), p.hash)) throw new MstError('PROTOCOL', 'a summary does not hash to the node asked for');
    if (!(s.layer < p.above)) throw new MstError('PROTOCOL', `a node on layer ${s.layer} under a node on layer ${p.above}`);
    const n = s.keys.length;
    if (n === 0 || s.digests.length !== n || s.children.length !== n + 1) throw new MstError('PROTOCOL', 'malformed summary');
    if (p.lo !== null && compareBytes(s.keys[0]!, p.lo) <= 0) throw new MstError('PROTOCOL', 'a key below its node range');
    if (p.hi !== null && compareBytes(s.keys[n - 1]!, p.hi) >= 0) throw new MstError('PROTOCOL', 'a key above its node range');
    // A node holds exactly the keys of its layer. The descent would be right without this check,
    // but a peer with another fanout would make it fetch that peer's whole tree: fail fast.
    if (layerForBits(s.keys[0]!, this.#bits) !== s.layer) {
      throw new MstError('PROTOCOL', `a key on the wrong layer for fanout ${this.#local.fanout}: does the peer use another fanout?`);
    }
    this.#summaries++;
    // Every local key and subtree that matters here lies under this node of the local tree.
    const cover = coverRange(rootNode(this.#local), p.lo, p.hi);
    for (let i = 0; i < n; i++) {
      const key = s.keys[i]!;
      if (i > 0 && compareBytes(s.keys[i - 1]!, key) >= 0) throw new MstError('PROTOCOL', 'keys not strictly ascending');
      const mine = findDigest(cover.node, key);
      if (mine === undefined) this.#remoteOnly.push(key.slice());
      else if (!equalBytes(mine, s.digests[i]!)) this.#different.push(key.slice());
    }
    for (let g = 0; g <= n; g++) {
      const lo = g === 0 ? p.lo : s.keys[g - 1]!.slice();
      const hi = g === n ? p.hi : s.keys[g]!.slice();
      const theirs = s.children[g]!;
      const ours = rangeHash(cover.node, lo, hi, g === 0 && cover.inLo, g === n && cover.inHi);
      if (theirs === null) {
        if (ours !== null) this.#collectLocal(lo, hi);
      } else if (ours === null || !equalBytes(ours, theirs)) {
        this.#queue.push({ hash: theirs.slice(), lo, hi, above: s.layer });
      }
    }
  }

  /** Every local key in (lo, hi) is missing remotely. */
  #collectLocal(lo: Uint8Array | null, hi: Uint8Array | null): void {
    for (const e of iterate(rootNode(this.#local), lo, true, hi)) this.#localOnly.push(e.key.slice());
  }
}

// --- wire format ------------------------------------------------------------------------------
//
//   request  = 0x01 'Q' | root[32] | varint count | count x ( hash[32] | 0x00 | 0x01 varint len lo )
//   response = 0x01 'R' | varint count | count x ( 0x00 | 0x01 varint len node )
//
// `node` is the node's canonical encoding (node.ts), so a receiver re-derives its hash.

const VERSION = 1;
const KIND_REQUEST = 0x51; // 'Q'
const KIND_RESPONSE = 0x52; // 'R'

/** A growable byte buffer with the varint encoding `Reader` decodes (also used by the anti-entropy codec). */
export class Writer {
  buf: Uint8Array;
  at = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }
  #room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const bigger = new Uint8Array(Math.max(this.at + n, this.buf.length * 2));
    bigger.set(this.buf.subarray(0, this.at));
    this.buf = bigger;
  }
  u8(v: number): void {
    this.#room(1);
    this.buf[this.at++] = v;
  }
  /** Big-endian. */
  u32(v: number): void {
    this.#room(4);
    const b = this.buf;
    b[this.at] = v >>> 24;
    b[this.at + 1] = v >>> 16;
    b[this.at + 2] = v >>> 8;
    b[this.at + 3] = v;
    this.at += 4;
  }
  varint(v: number): void {
    this.#room(5);
    while (v >= 0x80) {
      this.buf[this.at++] = (v & 0x7f) | 0x80;
      v = Math.floor(v / 128);
    }
    this.buf[this.at++] = v;
  }
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.buf.set(b, this.at);
    this.at += b.length;
  }
  finish(): Uint8Array {
    return this.buf.subarray(0, this.at);
  }
}

function header(r: Reader, kind: number): void {
  const version = r.u8();
  if (version !== VERSION) r.fail(`unknown version ${version}`);
  const k = r.u8();
  if (k !== kind) r.fail(`unexpected message kind ${k}`);
}

export function encodeRequest(request: SummaryRequest): Uint8Array {
  const w = new Writer(64 + request.refs.length * 64);
  w.u8(VERSION);
  w.u8(KIND_REQUEST);
  if (request.root.length !== HASH_BYTES) throw new MstError('INVALID_ARGUMENT', 'root hash must be 32 bytes');
  w.bytes(request.root);
  w.varint(request.refs.length);
  for (const ref of request.refs) {
    if (ref.hash.length !== HASH_BYTES) throw new MstError('INVALID_ARGUMENT', 'node hash must be 32 bytes');
    w.bytes(ref.hash);
    if (ref.lo === null) w.u8(0);
    else {
      w.u8(1);
      w.varint(ref.lo.length);
      w.bytes(ref.lo);
    }
  }
  return w.finish();
}

export function decodeRequest(bytes: Uint8Array, limits: DecodeLimits = {}): SummaryRequest {
  const r = new Reader(bytes, 'summary request');
  header(r, KIND_REQUEST);
  const root = r.bytes(HASH_BYTES).slice();
  const count = r.varint(Math.min(limits.maxRefs ?? DEFAULT_MAX_REFS, Math.floor(r.remaining / (HASH_BYTES + 1))), 'ref count');
  const maxKey = limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
  const refs: NodeRef[] = [];
  for (let i = 0; i < count; i++) {
    const hash = r.bytes(HASH_BYTES).slice();
    const flag = r.u8();
    if (flag === 0) refs.push({ hash, lo: null });
    else if (flag === 1) refs.push({ hash, lo: r.bytes(r.varint(Math.min(maxKey, r.remaining), 'bound length')).slice() });
    else r.fail(`bad bound flag ${flag}`);
  }
  r.end();
  return { root, refs };
}

export function encodeResponse(response: SummaryResponse): Uint8Array {
  let size = 16;
  for (const s of response.nodes) size += s === null ? 1 : 6 + s.bytes.length;
  const w = new Writer(size);
  w.u8(VERSION);
  w.u8(KIND_RESPONSE);
  w.varint(response.nodes.length);
  for (const s of response.nodes) {
    if (s === null) w.u8(0);
    else {
      w.u8(1);
      w.varint(s.bytes.length);
      w.bytes(s.bytes);
    }
  }
  return w.finish();
}

/** Decodes and structurally validates a response; whether it answers the request is checked by the session. */
export function decodeResponse(bytes: Uint8Array, limits: DecodeLimits = {}): SummaryResponse {
  const r = new Reader(bytes, 'summary response');
  header(r, KIND_RESPONSE);
  const count = r.varint(Math.min(limits.maxRefs ?? DEFAULT_MAX_REFS, r.remaining), 'node count');
  const nodes: (NodeSummary | null)[] = [];
  for (let i = 0; i < count; i++) {
    const flag = r.u8();
    if (flag === 0) nodes.push(null);
    else if (flag === 1) {
      const len = r.varint(r.remaining, 'node length');
      // Own copy: the summary's views must not pin (or alias) the caller's message buffer.
      nodes.push(decodeNode(r.bytes(len).slice(), limits));
    } else r.fail(`bad node flag ${flag}`);
  }
  r.end();
  return { nodes };
}
