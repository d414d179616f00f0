/**
 * # The Merkle Search Tree
 *
 * An ordered map from key bytes to a 32-byte entry digest whose shape is a pure function of the
 * key set (Auvolat & Taïani, "Merkle Search Trees", SRDS 2019). Each shard of the store keeps one;
 * two replicas compare roots, and where the roots differ they find the differing keys in a few
 * round trips.
 *
 * ## Shape
 *
 * Every key has a layer, computed from SHA-256(key) alone (layer.ts): with fanout 16 a key is on
 * layer >= L with probability 16^-L. The tree of a key set S is defined recursively:
 *
 *     T(empty) = nothing
 *     T(S)     = one node holding the keys of S on the top layer m = max layer(S), in order,
 *                k_1 < ... < k_n, and n + 1 children T(S ∩ (k_i, k_i+1)) for the gaps
 *                (k_0 = -inf, k_n+1 = +inf)
 *
 * So every node holds at least one key, and a child may sit several layers below its parent
 * when the layers in between have no key in that gap (we do not keep the empty filler nodes
 * some MSTs use: fewer nodes, and "one node per non-empty (layer, gap)" stays canonical). The
 * definition never mentions insertion order or values, so any history of upserts and removes
 * that ends with the same map ends with the same nodes, the same hashes, the same root. The
 * property tests check exactly that against a fresh bulk build.
 *
 * One consequence carries the whole anti-entropy design (below): a child is the canonical tree
 * of the keys in its gap. The canonical tree of ANY open key range (lo, hi) of a tree is
 * therefore well defined, and its hash can be computed from the tree without rebuilding it.
 *
 * ## Memory and writes
 *
 * A node is one object and one flat byte array (node.ts): ~80 bytes per 16-byte key at 1M keys,
 * no object per key. A write descends once from the root, recording the path. Updating a digest
 * writes 32 bytes in place; a new key is shifted into its node's buffer, which keeps ~25%
 * headroom so that most inserts allocate nothing. A key whose layer is above the nodes on its
 * path splits the subtree below it in two along its position; removing a key merges the two
 * subtrees beside it. Splits and merges touch one path per side, O(height) nodes. An upsert that
 * changes nothing (same digest) dirties nothing.
 *
 * Nothing is hashed on write: the writer clears the `clean` flag of each node on its path, and
 * `root()` rehashes only unclean nodes, bottom up. 10k random upserts into a 1M-key tree dirty
 * ~13k of its ~62k nodes; the first root() after a bulk build hashes them all.
 *
 * Snapshots are copy-on-write. Each tree has an epoch; it mutates a node in place only if the
 * node carries its epoch. `snapshot()` gives both trees fresh epochs, so every existing node is
 * shared and frozen; the next write to a path clones those nodes once. A snapshot costs O(1) and
 * an anti-entropy session can walk one for seconds while the shard keeps writing.
 *
 * ## Persistence (paging)
 *
 * A tree made with `open` (or `persistTo`) lives in storage and is read on demand. A node that is
 * not in memory is a stub: an object with its record id and its hash only, so its parent can be
 * hashed, compared and encoded without reading it. `childAt` reads a stub's record (through the
 * tree's NodeSource) the first time a walk passes through it, checks it hashes to what the parent
 * holds, and fills the same object in place, its own children as new stubs. Everything above
 * works unchanged on such trees; only the few places that hand a child array around load what
 * they touch.
 *
 * A record is immutable: whatever changes a node (an upsert or remove on its path, a split, a
 * merge) releases its record id into the tree's freed list and leaves the node without one.
 * `checkpoint` then stores every node without an id, children first (a record names its
 * children's ids), and returns the freed ids for deletion: storage always holds exactly the
 * nodes of the last checkpoint (and whatever the caller keeps for snapshots). Unstored nodes are
 * always a connected top of the tree, since a change releases its whole path to the root.
 *
 * `evict` bounds the loaded nodes: a clock-style sweep turns stored subtrees that no walk read
 * since the previous sweep back into stubs (the node object stays, its data and children go), so
 * the top of the tree, which every walk passes, stays in memory and the rest comes and goes.
 * Iterators re-read a node that was turned back into a stub between two of their steps.
 *
 * ## Bulk build
 *
 * From sorted input, layers are computed once per key and each range is built by scanning for its
 * top layer: O(n · height) with no splits, no path copies and no hashing (hashing is left to the
 * first root(), which is as lazy as after any write). Leaves are built with room for two more
 * keys, so that the first writes after a build do not all reallocate.
 *
 * ## Local diff (diff.ts)
 *
 * Two cursors walk both trees in key order as token streams (child, key, child, key, ...,
 * child). When both stand on subtrees with equal hashes, both skip them: equal hash, equal key
 * set and digests. Otherwise the cursor on the higher-layer subtree descends (the lower one may
 * match one of its children), and keys are merged like two sorted lists. Shapes differ only
 * along the paths of differing keys, so the walk costs O(d · height · fanout) for d differences.
 *
 * ## Remote descent (sync.ts): why by range, not by position
 *
 * Two replicas that differ in a few keys have trees that differ in shape along those keys'
 * paths: a layer-2 key present on one side only cuts in two, on that side, the layer-1 and
 * layer-0 nodes around its position. So "the
 * i-th child of the node at path p" on one side is in general not comparable with the same
 * position on the other side. What IS comparable is a key range: for any (lo, hi) both sides have
 * a canonical tree of their keys in (lo, hi), and the two hashes agree iff the two sides agree
 * on that range (up to SHA-256 collisions).
 *
 * The initiator therefore walks the PEER's tree and uses the peer's keys as range boundaries:
 *
 * 1. It asks for the peer root's summary: layer, keys with digests, and child hashes. The
 *    summary's bytes are the node's hash preimage, so it verifies them against the hash it asked
 *    for: a peer cannot answer with a node that is not in the tree it announced. A node's keys
 *    are the boundaries of its children; its own outer boundaries come from its parent, and the
 *    initiator keeps them with each node it asks for.
 * 2. A node at range (lo, hi) with keys k_1..k_n splits that range into gaps (lo, k_1), ...,
 *    (k_n, hi); the peer's child i is exactly the canonical tree of the peer's keys in gap i.
 *    For each key k_i a local lookup tells missing-locally / different digest / equal. For each
 *    gap, the initiator computes the hash of ITS canonical tree of that gap (rangeHash below:
 *    O(height) binary searches, and at most two partial nodes hashed per level; where both sides
 *    have the same boundaries it is just a cached child hash). Equal: the gap agrees, skip it.
 *    Peer gap empty: every local key in the gap is missing remotely. Otherwise ask for that
 *    child next.
 * 3. All children to ask for at one depth go in one request (optionally capped per request).
 *    The descent ends after at most height-of-peer-tree rounds (~5 for 1M keys at fanout 16).
 *
 * A request names a node by its hash and its lower range bound: the server walks from the root
 * of the snapshot the request names toward that bound and returns the node with that hash on the
 * way. The hash makes the answer verifiable; the bound makes the lookup O(height) without a hash
 * index, and, unlike a child-index path, means the same thing on both sides. Every key that
 * differs is either a key of a fetched peer node or lies in a gap whose hashes differ (an empty
 * peer gap included), and a gap that is descended into is strictly smaller each time, so the
 * descent finds exactly the symmetric difference (property-tested against the local diff and
 * against plain set algebra).
 * The cost is the peer nodes on the paths of differing keys: O(d · height) summaries.
 *
 * ## Proofs (proof.ts)
 *
 * A proof for a key is the list of node preimages from the root down the key's search path. The
 * verifier hashes each, checks it is the child hash its parent gives for the gap containing the
 * key and that its keys are ordered and inside that gap, and ends on the node holding the key
 * (inclusion, with its digest) or on an empty gap (absence). It needs only the root hash.
 */
import { compareBytes } from './bytes.js';
import { MstError } from './errors.js';
import { DEFAULT_FANOUT, fanoutBits, layerForBits } from './layer.js';
import {
  allocNode,
  allocNodeWithRoom,
  childAt,
  type Children,
  cloneNode,
  createdNodeBytes,
  encodeRecord,
  loaded,
  type NodeSource,
  stubNode,
  unloadNode,
  compareKeyAt,
  concatNodes,
  copyDigest,
  DIGEST_BYTES,
  digestAt,
  digestEquals,
  EMPTY_ROOT,
  insertEntry,
  keyAt,
  lowerBound,
  type MstNode,
  nodeHash,
  normalizeChildren,
  partialHash,
  putEntry,
  removeEntry,
  search,
  sliceNode,
  upperBound,
  writeDigest,
} from './node.js';

/** Options of a tree. Peers that compare trees must use the same fanout. */
export interface MstOptions {
  /** Expected children per node: a power of two from 4 to 256. Default 16. */
  readonly fanout?: number;
}

/** One entry. Views returned by iteration point into frozen nodes: they never change. */
export interface MstEntry {
  readonly key: Uint8Array;
  readonly digest: Uint8Array;
}

/** Where a persisted tree's root is: its record id and hash, and the tree's key count. */
export interface PersistedRoot {
  readonly id: number;
  readonly hash: Uint8Array;
  readonly size: number;
}

/**
 * What a checkpoint writes: the records of every node changed since the last one (children
 * before parents), the ids of the records the tree no longer uses, and the new root (null for an
 * empty tree). The tree already counts on them; call `abort` if the writes failed.
 */
export interface TreeCheckpoint {
  readonly records: readonly (readonly [id: number, record: Uint8Array])[];
  readonly freed: readonly number[];
  readonly root: PersistedRoot | null;
  abort(): void;
}

/** A half-open key range [start, end); a missing bound is unbounded. */
export interface KeyRange {
  readonly start?: Uint8Array;
  readonly end?: Uint8Array;
}

let epochs = 0;
const nextEpoch = (): number => ++epochs;

/**
 * Heap bytes a loaded node holds, as heap snapshots of a node at 5M keys count them: its data; the
 * typed array and buffer objects around it (184); its children array (48) and one node object a
 * child (168, and its slot), loaded or a stub. The stubs count: a layer loaded above unloaded ones
 * holds a stub for every child, ~17 a node, about three times the node's own bytes, and keeping
 * that layer must fit them in the budget too.
 */
function heldBytes(node: MstNode): number {
  return node.data.length + 184 + (node.children === null ? 0 : 48 + node.children.length * 176);
}

/**
 * Where structural changes of a persisted tree report the stored records they replace; null
 * while no persisted tree is being changed (the operations below are synchronous).
 */
let freedSink: number[] | null = null;

/**
 * A node the tree stops using: its record goes at the next checkpoint. A node of the tree's
 * own epoch is private to it and forgets its id; a shared one (a snapshot's) keeps it.
 */
function release(node: MstNode, epoch: number): void {
  if (node.id === 0 || freedSink === null) return;
  freedSink.push(node.id);
  if (node.epoch === epoch) node.id = 0;
}

let rootOf!: (tree: MerkleSearchTree) => MstNode | null;

/**
 * The Merkle Search Tree of one shard. Synchronous and single-threaded by design: a shard actor
 * owns it. Keys are arbitrary bytes (compared as unsigned bytes), digests exactly 32 bytes; both
 * are copied in, so callers may reuse their buffers.
 */
export class MerkleSearchTree {
  readonly fanout: number;
  readonly #bits: number;
  #root: MstNode | null = null;
  #size = 0;
  #epoch = nextEpoch();
  // Scratch for the one descent a write makes (the tree is never re-entered).
  readonly #nodes: MstNode[] = [];
  readonly #gaps: number[] = [];
  /** Set for a persisted tree: where its stubs read their records. */
  #source: NodeSource | null = null;
  /** Records the tree stopped using since the last checkpoint. */
  #freed: number[] = [];
  /** Loaded bytes found by the last eviction sweep, and the creation counter then. */
  #sweptBytes = 0;
  #createdAtSweep = 0;

  static {
    rootOf = (tree) => tree.#root;
  }

  constructor(options: MstOptions = {}) {
    this.fanout = options.fanout ?? DEFAULT_FANOUT;
    this.#bits = fanoutBits(this.fanout);
  }

  /**
   * Builds a tree from keys in strictly ascending byte order and their digests, much faster than
   * upserting them one by one. Throws INVALID_ARGUMENT on unsorted or duplicate keys.
   */
  static fromSorted(keys: readonly Uint8Array[], digests: readonly Uint8Array[], options: MstOptions = {}): MerkleSearchTree {
    const tree = new MerkleSearchTree(options);
    const n = keys.length;
    if (digests.length !== n) throw new MstError('INVALID_ARGUMENT', `${n} keys but ${digests.length} digests`);
    const layers = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const key = keys[i]!;
      checkDigest(digests[i]!);
      if (i > 0 && compareBytes(keys[i - 1]!, key) >= 0) {
        throw new MstError('INVALID_ARGUMENT', `bulk input is not strictly ascending at index ${i}`);
      }
      layers[i] = layerForBits(key, tree.#bits);
    }
    tree.#root = buildRange(keys, digests, layers, 0, n, tree.#epoch);
    tree.#size = n;
    return tree;
  }

  /**
   * A persisted tree: its root is a stub read from `source` when first needed, and so is every
   * node below it. Writes change nodes in memory; {@link checkpoint} says what to store.
   */
  static open(source: NodeSource, root: PersistedRoot | null, options: MstOptions = {}): MerkleSearchTree {
    const tree = new MerkleSearchTree(options);
    tree.#source = source;
    if (root !== null) {
      tree.#root = stubNode(root.id, root.hash, source);
      tree.#size = root.size;
    }
    return tree;
  }

  /**
   * Makes an in-memory tree a persisted one: from now on its changes are tracked for
   * {@link checkpoint}, whose first call stores every node.
   */
  persistTo(source: NodeSource): void {
    this.#source = source;
  }

  /** Builds a tree from entries in any order; a later duplicate key wins. */
  static fromEntries(entries: Iterable<readonly [Uint8Array, Uint8Array]>, options: MstOptions = {}): MerkleSearchTree {
    const all = [...entries];
    const order = all.map((_, i) => i).sort((a, b) => compareBytes(all[a]![0], all[b]![0]) || a - b);
    const keys: Uint8Array[] = [];
    const digests: Uint8Array[] = [];
    for (const i of order) {
      const [key, digest] = all[i]!;
      if (keys.length > 0 && compareBytes(keys[keys.length - 1]!, key) === 0) digests[digests.length - 1] = digest;
      else {
        keys.push(key);
        digests.push(digest);
      }
    }
    return MerkleSearchTree.fromSorted(keys, digests, options);
  }

  /** Layers in use: the root's layer + 1 (0 when empty). Reads the root only. */
  layers(): number {
    const root = loaded(this.#root);
    return root === null ? 0 : root.layer + 1;
  }

  /** Number of keys. */
  get size(): number {
    return this.#size;
  }

  /** The digest of `key` (a copy), or undefined. */
  get(key: Uint8Array): Uint8Array | undefined {
    let node = loaded(this.#root);
    while (node !== null) {
      const r = search(node, key);
      if (r >= 0) return copyDigest(node, r);
      node = childAt(node, ~r);
    }
    return undefined;
  }

  has(key: Uint8Array): boolean {
    let node = loaded(this.#root);
    while (node !== null) {
      const r = search(node, key);
      if (r >= 0) return true;
      node = childAt(node, ~r);
    }
    return false;
  }

  /**
   * Sets the digest of `key`. Returns false when the tree already held exactly that (nothing is
   * dirtied then), true otherwise.
   */
  upsert(key: Uint8Array, digest: Uint8Array): boolean {
    checkDigest(digest);
    freedSink = this.#source === null ? null : this.#freed;
    try {
      return this.#upsert(key, digest);
    } finally {
      freedSink = null;
    }
  }

  #upsert(key: Uint8Array, digest: Uint8Array): boolean {
    const nodes = this.#nodes;
    const gaps = this.#gaps;
    let depth = 0;
    let node = loaded(this.#root);
    while (node !== null) {
      const r = search(node, key);
      nodes[depth] = node;
      if (r >= 0) {
        if (digestEquals(node, r, digest)) return false;
        writeDigest(this.#ownPath(depth), r, digest);
        return true;
      }
      gaps[depth++] = ~r;
      node = childAt(node, ~r);
    }
    // A new key: it goes to the first node on the path whose layer is not above its own.
    const layer = layerForBits(key, this.#bits);
    const epoch = this.#epoch;
    let p = 0;
    while (p < depth && nodes[p]!.layer > layer) p++;
    if (p < depth && nodes[p]!.layer === layer) {
      const target = this.#ownPath(p);
      const g = gaps[p]!;
      const [left, right] = split(childAt(target, g), key, epoch);
      insertEntry(target, g, key, digest);
      // With no children at all, the gap was empty and so are both halves.
      if (target.children !== null) target.children.splice(g, 1, left, right);
    } else {
      // A node of its own, between nodes[p - 1] and the subtree it splits (or an empty gap).
      const [left, right] = split(p < depth ? nodes[p]! : null, key, epoch);
      const fresh = allocNode(layer, epoch, 1, key.length, normalizeChildren([left, right]));
      putEntry(fresh, 0, 0, key, digest);
      if (p === 0) this.#root = fresh;
      else setChild(this.#ownPath(p - 1), gaps[p - 1]!, fresh);
    }
    this.#size++;
    return true;
  }

  /** Removes `key`. Returns whether it was present. */
  remove(key: Uint8Array): boolean {
    freedSink = this.#source === null ? null : this.#freed;
    try {
      return this.#remove(key);
    } finally {
      freedSink = null;
    }
  }

  #remove(key: Uint8Array): boolean {
    const nodes = this.#nodes;
    const gaps = this.#gaps;
    let depth = 0;
    let node = loaded(this.#root);
    let i = -1;
    while (node !== null) {
      const r = search(node, key);
      nodes[depth] = node;
      if (r >= 0) {
        i = r;
        break;
      }
      gaps[depth++] = ~r;
      node = childAt(node, ~r);
    }
    if (node === null) return false;
    const x = this.#ownPath(depth);
    const merged = merge(childAt(x, i), childAt(x, i + 1), this.#epoch);
    if (x.n === 1) {
      // The node's only key goes: what was below it takes its place.
      if (depth === 0) this.#root = merged;
      else setChild(nodes[depth - 1]!, gaps[depth - 1]!, merged);
    } else {
      removeEntry(x, i);
      if (x.children !== null) {
        x.children.splice(i, 2, merged);
        x.children = normalizeChildren(x.children);
      }
    }
    this.#size--;
    return true;
  }

  /** Removes every key (an in-memory tree only: a persisted one removes its keys one by one). */
  clear(): void {
    if (this.#source !== null) throw new MstError('INVALID_ARGUMENT', 'clear() would leave the records of a persisted tree behind');
    this.#root = null;
    this.#size = 0;
  }

  /** The root hash (a copy): rehashes only the nodes changed since the last call. */
  root(): Uint8Array {
    return this.#root === null ? EMPTY_ROOT.slice() : nodeHash(this.#root);
  }

  /**
   * An independent tree with the same content, in O(1). Later writes to either tree do not
   * disturb the other; unchanged nodes stay shared. A persisted tree's snapshot reads from the
   * same storage and can {@link evict} what its walks read (a reader's view: it is never
   * checkpointed).
   */
  snapshot(): MerkleSearchTree {
    const copy = new MerkleSearchTree({ fanout: this.fanout });
    copy.#root = this.#root;
    copy.#size = this.#size;
    copy.#source = this.#source;
    this.#epoch = nextEpoch();
    return copy;
  }

  /**
   * Entries in key order, optionally within [start, end). The iteration sees the tree as it was
   * when this was called (writes during the iteration go to copies).
   */
  entries(range: KeyRange = {}): IterableIterator<MstEntry> {
    this.#epoch = nextEpoch();
    return iterate(loaded(this.#root), range.start ?? null, false, range.end ?? null);
  }

  /**
   * What to store so that the persisted tree equals this one: every node changed since the last
   * checkpoint gets a new record id from `nextId` (children first: a record names its children's
   * ids), and the records the tree stopped using are listed for deletion. Hashes every changed
   * node. The nodes keep their new ids; `abort` forgets them when the writes failed.
   */
  checkpoint(nextId: () => number): TreeCheckpoint {
    if (this.#source === null) throw new MstError('STATE', 'checkpoint() of a tree that is not persisted');
    const records: [number, Uint8Array][] = [];
    const stored: MstNode[] = [];
    const root = this.#root;
    // Storing a node hashes it if it is not yet (see encodeRecord): every changed node is stored.
    const store = (node: MstNode): void => {
      if (node.id !== 0) return;
      const c = node.children;
      if (c !== null) for (const child of c) if (child !== null) store(child);
      node.id = nextId();
      stored.push(node);
      records.push([node.id, encodeRecord(node)]);
    };
    if (root !== null) store(root);
    const freed = this.#freed.splice(0);
    return {
      records,
      freed,
      root: root === null ? null : { id: root.id, hash: nodeHash(root), size: this.#size },
      abort: () => {
        for (const node of stored) node.id = 0;
        this.#freed.unshift(...freed);
      },
    };
  }

  /**
   * Keeps a persisted tree's loaded nodes near `maxBytes`: once nodes worth more than that may
   * have been read or built since the last sweep, stored subtrees that nobody read since then go
   * back to stubs (a clock-style second chance; the root and unstored nodes stay). When what was
   * read still exceeds `maxBytes` (writes or walks spread over more of the tree than it holds),
   * the lowest layers go, as many as it takes: the upper ones, a small share of the nodes that
   * every path crosses, stay loaded for the next operations. Call it between operations: an
   * operation in progress holds nodes.
   */
  evict(maxBytes: number): void {
    const root = this.#root;
    if (this.#source === null || root === null || root.src !== null) return;
    const estimate = this.#sweptBytes + (createdNodeBytes() - this.#createdAtSweep);
    if (estimate <= maxBytes) return;
    const byLayer = this.#sweep(root);
    let bytes = byLayer.reduce((sum, layerBytes) => sum + layerBytes, 0);
    if (bytes > maxBytes) bytes = this.#shed(root, byLayer, maxBytes);
    this.#sweptBytes = bytes;
    this.#createdAtSweep = createdNodeBytes();
  }

  /**
   * Unloads the stored subtrees below the lowest layer that, with every layer above it, fits
   * `maxBytes` (all below the root when none does); `byLayer` is what is loaded, layer by layer
   * (see #sweep). Returns the bytes left loaded.
   */
  #shed(root: MstNode, byLayer: readonly number[], maxBytes: number): number {
    const source = this.#source!;
    let lowestKept = root.layer;
    let kept = byLayer[root.layer]!;
    while (lowestKept > 0 && kept + byLayer[lowestKept - 1]! <= maxBytes) kept += byLayer[--lowestKept]!;
    let bytes = 0;
    const visit = (node: MstNode): void => {
      bytes += heldBytes(node);
      for (const child of node.children ?? []) {
        if (child === null || child.src !== null) continue;
        if (child.id !== 0 && child.layer < lowestKept) unloadNode(child, source);
        else visit(child);
      }
    };
    visit(root);
    return bytes;
  }

  /**
   * Unloads stored subtrees not read since the last sweep, clears the flag on the rest; returns
   * the bytes left loaded on each layer (index: the layer).
   */
  #sweep(root: MstNode): number[] {
    const source = this.#source!;
    const byLayer = new Array<number>(root.layer + 1).fill(0);
    const visit = (node: MstNode): void => {
      byLayer[node.layer]! += heldBytes(node);
      const c = node.children;
      if (c === null) return;
      for (const child of c) {
        if (child === null || child.src !== null) continue;
        if (child.id !== 0 && !child.touched) unloadNode(child, source);
        else {
          child.touched = false;
          visit(child);
        }
      }
    };
    visit(root);
    return byLayer;
  }

  [Symbol.iterator](): IterableIterator<MstEntry> {
    return this.entries();
  }

  /** Takes ownership of path nodes 0..upto (cloning shared ones), marks them dirty, returns the last. */
  #ownPath(upto: number): MstNode {
    const nodes = this.#nodes;
    const gaps = this.#gaps;
    const epoch = this.#epoch;
    let parent: MstNode | null = null;
    for (let q = 0; q <= upto; q++) {
      let nd = nodes[q]!;
      // The node's content changes: its record (if any) no longer describes it.
      release(nd, epoch);
      if (nd.epoch !== epoch) {
        nd = cloneNode(nd, epoch);
        if (parent === null) this.#root = nd;
        else parent.children![gaps[q - 1]!] = nd;
        nodes[q] = nd;
      }
      nd.clean = false;
      parent = nd;
    }
    return parent!;
  }
}

function checkDigest(digest: Uint8Array): void {
  if (!(digest instanceof Uint8Array) || digest.length !== DIGEST_BYTES) {
    throw new MstError('INVALID_ARGUMENT', `a digest must be ${DIGEST_BYTES} bytes`);
  }
}

function setChild(node: MstNode, gap: number, child: MstNode | null): void {
  if (node.children === null) {
    if (child === null) return;
    node.children = new Array<MstNode | null>(node.n + 1).fill(null);
  }
  node.children[gap] = child;
  if (child === null) node.children = normalizeChildren(node.children);
}

// --- structural operations ------------------------------------------------------------------

const NO_SPLIT: [MstNode | null, MstNode | null] = [null, null];

/** The canonical trees of the keys of `node` below and above `key` (absent from it). New nodes only. */
function split(node: MstNode | null, key: Uint8Array, epoch: number): [MstNode | null, MstNode | null] {
  if (node === null) return NO_SPLIT;
  loaded(node);
  release(node, epoch);
  const g = ~search(node, key);
  const [cl, cr] = split(childAt(node, g), key, epoch);
  const c = node.children;
  const left = g === 0 ? cl : sliceNode(node, 0, g, epoch, c === null ? null : [...c.slice(0, g), cl]);
  const right = g === node.n ? cr : sliceNode(node, g, node.n, epoch, c === null ? null : [cr, ...c.slice(g + 1)]);
  return [left, right];
}

function childrenOrEmpty(node: MstNode): Children {
  return node.children === null ? new Array<MstNode | null>(node.n + 1).fill(null) : node.children.slice();
}

/** The canonical tree of the keys of a and b, every key of a below every key of b. New nodes only. */
function merge(a: MstNode | null, b: MstNode | null, epoch: number): MstNode | null {
  if (a === null) return b;
  if (b === null) return a;
  // Children arrays may hold stubs: their layers are in their records.
  loaded(a);
  loaded(b);
  if (a.layer > b.layer) {
    release(a, epoch);
    const c = childrenOrEmpty(a);
    c[a.n] = merge(c[a.n]!, b, epoch);
    return sliceNode(a, 0, a.n, epoch, c);
  }
  if (a.layer < b.layer) {
    release(b, epoch);
    const c = childrenOrEmpty(b);
    c[0] = merge(a, c[0]!, epoch);
    return sliceNode(b, 0, b.n, epoch, c);
  }
  release(a, epoch);
  release(b, epoch);
  const ca = childrenOrEmpty(a);
  const cb = childrenOrEmpty(b);
  const middle = merge(ca[a.n]!, cb[0]!, epoch);
  return concatNodes(a, b, epoch, [...ca.slice(0, a.n), middle, ...cb.slice(1)]);
}

const BUILD_ROOM = 2;

function buildRange(
  keys: readonly Uint8Array[],
  digests: readonly Uint8Array[],
  layers: Uint8Array,
  lo: number,
  hi: number,
  epoch: number,
): MstNode | null {
  if (lo >= hi) return null;
  let top = 0;
  let count = 0;
  let bytes = 0;
  for (let i = lo; i < hi; i++) {
    const l = layers[i]!;
    if (l > top) {
      top = l;
      count = 0;
      bytes = 0;
    }
    if (l === top) {
      count++;
      bytes += keys[i]!.length;
    }
  }
  // Leaves get room for two more keys: the first insert into each bulk-built leaf then shifts in
  // place instead of reallocating (+6 bytes per key; upserts into a fresh 1M tree ~1.3x faster).
  const node = top === 0 ? allocNodeWithRoom(0, epoch, count, bytes, BUILD_ROOM) : allocNode(top, epoch, count, bytes, null);
  // On layer 0 every key of the range is in this node and every gap is empty.
  const children: Children | null = top === 0 ? null : new Array<MstNode | null>(count + 1);
  let at = 0;
  let off = 0;
  let prev = lo;
  for (let i = lo; i < hi; i++) {
    if (layers[i] !== top) continue;
    if (children !== null) children[at] = buildRange(keys, digests, layers, prev, i, epoch);
    off = putEntry(node, at, off, keys[i]!, digests[i]!);
    at++;
    prev = i + 1;
  }
  if (children !== null) {
    children[count] = buildRange(keys, digests, layers, prev, hi, epoch);
    node.children = normalizeChildren(children);
  }
  return node;
}

// --- reading, for this library's other modules -------------------------------------------------

/** The root node (internal: not exported from the package). */
export function rootNode(tree: MerkleSearchTree): MstNode | null {
  return loaded(rootOf(tree));
}

/**
 * Entries after `lo` (inclusive or not) and before `hi` (exclusive), lazily. The caller
 * guarantees the nodes are not mutated meanwhile (frozen, or consumed synchronously).
 */
export function* iterate(root: MstNode | null, lo: Uint8Array | null, loExclusive: boolean, hi: Uint8Array | null): Generator<MstEntry, undefined, undefined> {
  const nodes: MstNode[] = [];
  const next: number[] = [];
  let node = root;
  while (node !== null) {
    const i = lo === null ? 0 : loExclusive ? upperBound(node, lo) : lowerBound(node, lo);
    nodes.push(node);
    next.push(i);
    node = childAt(node, i);
  }
  while (nodes.length > 0) {
    const top = nodes.length - 1;
    // Between two steps an eviction sweep may have turned a node back into a stub.
    const nd = loaded(nodes[top]!);
    const i = next[top]!;
    if (i >= nd.n) {
      nodes.pop();
      next.pop();
      continue;
    }
    if (hi !== null && compareKeyAt(nd, i, hi) >= 0) return;
    yield { key: keyAt(nd, i), digest: digestAt(nd, i) };
    next[top] = i + 1;
    let c = childAt(nd, i + 1);
    while (c !== null) {
      nodes.push(c);
      next.push(0);
      c = childAt(c, 0);
    }
  }
}

/**
 * Narrows the open range (lo, hi) at one node: keys [i, j) of the node lie inside; `loTight`
 * says every key of child i is above lo (either known before, or key i-1 equals lo), `hiTight`
 * likewise for child j. Results in module scope: this runs per gap of every summary a session
 * absorbs, and allocating a result object per call showed in profiles.
 */
let cutI = 0;
let cutJ = 0;
let cutLoTight = false;
let cutHiTight = false;

function cut(node: MstNode, lo: Uint8Array | null, hi: Uint8Array | null, inLo: boolean, inHi: boolean): void {
  if (inLo) {
    cutI = 0;
    cutLoTight = true;
  } else {
    const r = search(node, lo!);
    cutI = r >= 0 ? r + 1 : ~r;
    cutLoTight = r >= 0;
  }
  if (inHi) {
    cutJ = node.n;
    cutHiTight = true;
  } else {
    const r = search(node, hi!);
    cutJ = r >= 0 ? r : ~r;
    cutHiTight = r >= 0;
  }
}

/**
 * Hash of the canonical tree of the keys of `node`'s subtree inside the open range (lo, hi)
 * (null bound = unbounded), or null when there is none. `inLo`/`inHi`: every key of the subtree
 * is already known to be above lo / below hi. Where the range's bounds are keys of this tree
 * (the common case when two replicas mostly agree) this is a walk down to the child between them
 * and its cached hash; otherwise at most two partial nodes per layer are hashed.
 */
export function rangeHash(node: MstNode | null, lo: Uint8Array | null, hi: Uint8Array | null, inLo = lo === null, inHi = hi === null): Uint8Array | null {
  while (node !== null) {
    if (inLo && inHi) return nodeHash(node);
    cut(node, lo, hi, inLo, inHi);
    const i = cutI;
    const j = cutJ;
    if (i < j) {
      // Keys i..j-1 of this node are the range's top layer; the two edge gaps may be partial.
      const loTight = cutLoTight;
      const hiTight = cutHiTight;
      const first = rangeHash(childAt(node, i), lo, hi, loTight, true);
      const last = rangeHash(childAt(node, j), lo, hi, true, hiTight);
      return partialHash(node, i, j, first, last);
    }
    // No key of this node is inside: the range lies within gap i.
    inLo = cutLoTight;
    inHi = cutHiTight;
    node = childAt(node, i);
  }
  return null;
}

/** Where a walk for the range (lo, hi) can start: the deepest node whose subtree holds all its keys. */
export interface RangeCover {
  readonly node: MstNode | null;
  readonly inLo: boolean;
  readonly inHi: boolean;
}

export function coverRange(root: MstNode | null, lo: Uint8Array | null, hi: Uint8Array | null): RangeCover {
  let node = root;
  let inLo = lo === null;
  let inHi = hi === null;
  while (node !== null && !(inLo && inHi)) {
    cut(node, lo, hi, inLo, inHi);
    if (cutI < cutJ) break;
    inLo = cutLoTight;
    inHi = cutHiTight;
    node = childAt(node, cutI);
  }
  return { node, inLo, inHi };
}

/** The digest of `key` in the subtree of `node` (a view), or undefined. */
export function findDigest(node: MstNode | null, key: Uint8Array): Uint8Array | undefined {
  while (node !== null) {
    const r = search(node, key);
    if (r >= 0) return digestAt(node, r);
    node = childAt(node, ~r);
  }
  return undefined;
}

/** Layer count and node count, for tests and the bench. */
export function treeStats(tree: MerkleSearchTree): { nodes: number; height: number; maxNodeKeys: number } {
  let nodes = 0;
  let height = 0;
  let maxNodeKeys = 0;
  const walk = (node: MstNode, depth: number): void => {
    nodes++;
    if (depth > height) height = depth;
    if (node.n > maxNodeKeys) maxNodeKeys = node.n;
    if (node.children !== null) for (const c of node.children) if (c !== null) walk(c, depth + 1);
  };
  const root = rootOf(tree);
  if (root !== null) walk(root, 1);
  return { nodes, height, maxNodeKeys };
}

/** Nested plain description of the tree (layer, keys as hex, children), for structural tests. */
export interface NodeShape {
  readonly layer: number;
  readonly keys: readonly string[];
  readonly children: readonly (NodeShape | null)[];
}

export function treeShape(tree: MerkleSearchTree): NodeShape | null {
  const shape = (node: MstNode | null): NodeShape | null => {
    if (node === null) return null;
    const keys: string[] = [];
    const children: (NodeShape | null)[] = [];
    for (let i = 0; i < node.n; i++) keys.push(Buffer.from(keyAt(node, i)).toString('hex'));
    for (let g = 0; g <= node.n; g++) children.push(shape(childAt(node, g)));
    return { layer: node.layer, keys, children };
  };
  return shape(rootOf(tree));
}
