/**
 * One MST node in memory, its canonical byte encoding, and its hash.
 *
 * Memory is the constraint that shapes this file (goal: <= 120 bytes per key with 1M keys). A node
 * is one small object plus ONE Uint8Array holding everything about its entries:
 *
 *     data = [ digest 32 x cap | key end offsets u32le x cap | key bytes, concatenated ]
 *
 * so a key costs its own bytes + 32 (digest) + 4 (offset), and the node's fixed cost (~300 bytes:
 * object, typed array, backing store) is shared by ~16 keys. There is no JavaScript
 * object per key. `children` is null when every gap is empty (always so on layer 0, i.e. for
 * ~94% of nodes); otherwise it has n + 1 slots, one per gap between keys.
 *
 * The regions are sized for `cap` >= n entries, and the key area may have room to spare: a node
 * that grows by an insert gets ~25% headroom, so most inserts shift bytes inside the buffer
 * (copyWithin) instead of allocating a new one. That matters more than it seems: every
 * discarded buffer is an off-heap ArrayBuffer the GC must finalize, and their churn is what
 * triggers full collections. Bulk-built leaves get room for two more entries; split and merged
 * nodes are exact.
 *
 * The cached hash lives in eight int32 fields of the node object (h0..h7, big-endian words) and
 * is valid when `clean` is set. Writers clear `clean` on every node of a changed path;
 * `ensureHashed` recomputes only those (lazy hashing). Fields rather than bytes in `data`: a
 * parent reads the hash of each of its ~16 children when it is rehashed, mostly of clean ones
 * scattered over the heap, and one object load per child instead of three dependent ones
 * (object, typed array, backing store) made rehashing inner nodes about 3x faster.
 *
 * `epoch` implements copy-on-write: a tree only mutates nodes stamped with its current epoch; any
 * other node is shared with a snapshot and is cloned (with its data) before a change. Hashing a
 * shared node is allowed: the hash is a pure function of the node's content, so every tree that
 * shares the node agrees on it.
 *
 * The canonical encoding (the "preimage") is both what a node hash commits to and the wire form
 * of a node summary (see sync.ts) and of a proof step (see proof.ts). It is columnar, so that the
 * keys and the digests go into the hash input as two block copies:
 *
 *     u8 layer | varint n | n x varint keyLength | key bytes | n x digest[32] | (n + 1) x child
 *     child  = 0x00 (empty gap) | 0x01 hash[32]
 *
 * varints are unsigned LEB128, minimal. The node hash is SHA-256(preimage); the empty tree's
 * root hash is 32 zero bytes. Committing to the layer and to every key, digest and child hash
 * makes an inclusion or absence proof a chain of preimages from the root.
 */
import { hash as nodeCryptoHash } from 'node:crypto';
import { copyBytes } from './bytes.js';
import { MstError } from './errors.js';

export const HASH_BYTES = 32;
export const DIGEST_BYTES = 32;
/** Root hash of the empty tree. */
export const EMPTY_ROOT: Uint8Array = new Uint8Array(HASH_BYTES);

export type Children = (MstNode | null)[];

/** Where the nodes of a persisted tree are read from: a node's record by its id (see paging in tree.ts). */
export interface NodeSource {
  read(id: number): Uint8Array | undefined;
}

export class MstNode {
  layer: number;
  epoch: number;
  /** Number of keys. A node of a canonical tree has at least one. */
  n: number;
  /** Entries the digest and offset regions of `data` have room for. */
  cap: number;
  data: Uint8Array;
  children: Children | null;
  /** h0..h7 hold this node's hash. */
  clean: boolean;
  h0 = 0;
  h1 = 0;
  h2 = 0;
  h3 = 0;
  h4 = 0;
  h5 = 0;
  h6 = 0;
  h7 = 0;
  /** The record this node's content is stored under; 0 while it is not stored (new or changed). */
  id = 0;
  /** Set while the node is a stub: its hash and id only, its content to be read from here. */
  src: NodeSource | null = null;
  /** Read since the last eviction sweep (see MerkleSearchTree.evict). */
  touched = false;

  constructor(layer: number, epoch: number, n: number, cap: number, data: Uint8Array, children: Children | null) {
    this.layer = layer;
    this.epoch = epoch;
    this.n = n;
    this.cap = cap;
    this.data = data;
    this.children = children;
    this.clean = false;
  }
}

// --- layout -----------------------------------------------------------------------------------

const digestOffset = (i: number): number => DIGEST_BYTES * i;
const endsOffset = (cap: number): number => DIGEST_BYTES * cap;
const keysOffset = (cap: number): number => (DIGEST_BYTES + 4) * cap;

function readU32(d: Uint8Array, p: number): number {
  return (d[p]! | (d[p + 1]! << 8) | (d[p + 2]! << 16) | (d[p + 3]! << 24)) >>> 0;
}

function writeU32(d: Uint8Array, p: number, v: number): void {
  d[p] = v & 0xff;
  d[p + 1] = (v >>> 8) & 0xff;
  d[p + 2] = (v >>> 16) & 0xff;
  d[p + 3] = v >>> 24;
}

/** Offset in `data` where key i starts. */
export function keyStart(node: MstNode, i: number): number {
  const cap = node.cap;
  return keysOffset(cap) + (i === 0 ? 0 : readU32(node.data, endsOffset(cap) + 4 * (i - 1)));
}

/** Offset in `data` where key i ends. */
export function keyEnd(node: MstNode, i: number): number {
  const cap = node.cap;
  return keysOffset(cap) + readU32(node.data, endsOffset(cap) + 4 * i);
}

/**
 * Calls `visit` with entries [from, to) of the node: its data, key i at [keyFrom, keyTo) and
 * digest i at digestAt. Each key's start is the previous one's end: one offset read an entry.
 */
export function visitEntries(
  node: MstNode,
  from: number,
  to: number,
  visit: (data: Uint8Array, keyFrom: number, keyTo: number, digestAt: number) => void,
): void {
  if (from >= to) return;
  const d = node.data;
  const eOff = endsOffset(node.cap);
  const kOff = keysOffset(node.cap);
  let start = kOff + (from === 0 ? 0 : readU32(d, eOff + 4 * (from - 1)));
  for (let i = from; i < to; i++) {
    const end = kOff + readU32(d, eOff + 4 * i);
    visit(d, start, end, digestOffset(i));
    start = end;
  }
}

/** Total key bytes of the node. */
function keyBytes(node: MstNode): number {
  return node.n === 0 ? 0 : readU32(node.data, endsOffset(node.cap) + 4 * (node.n - 1));
}

/** A node with room for exactly n entries and totalKeyBytes key bytes, to be filled by putEntry/copyEntries. */
export function allocNode(layer: number, epoch: number, n: number, totalKeyBytes: number, children: Children | null): MstNode {
  nodeBytesCreated += keysOffset(n) + totalKeyBytes;
  return new MstNode(layer, epoch, n, n, new Uint8Array(keysOffset(n) + totalKeyBytes), children);
}

/** Like allocNode, with room for `room` more entries of average key size. */
export function allocNodeWithRoom(layer: number, epoch: number, n: number, totalKeyBytes: number, room: number): MstNode {
  const cap = n + room;
  const keyRoom = n === 0 ? 0 : Math.ceil((totalKeyBytes / n) * room);
  return new MstNode(layer, epoch, n, cap, new Uint8Array(keysOffset(cap) + totalKeyBytes + keyRoom), null);
}

/** A view of key i (shares the node's buffer). */
export function keyAt(node: MstNode, i: number): Uint8Array {
  return node.data.subarray(keyStart(node, i), keyEnd(node, i));
}

/** A view of digest i (shares the node's buffer). */
export function digestAt(node: MstNode, i: number): Uint8Array {
  const p = digestOffset(i);
  return node.data.subarray(p, p + DIGEST_BYTES);
}

export function copyKey(node: MstNode, i: number): Uint8Array {
  return node.data.slice(keyStart(node, i), keyEnd(node, i));
}

export function copyDigest(node: MstNode, i: number): Uint8Array {
  const p = digestOffset(i);
  return node.data.slice(p, p + DIGEST_BYTES);
}

export function digestEquals(node: MstNode, i: number, digest: Uint8Array): boolean {
  const d = node.data;
  const p = digestOffset(i);
  for (let j = 0; j < DIGEST_BYTES; j++) if (d[p + j] !== digest[j]) return false;
  return true;
}

export function sameDigest(a: MstNode, i: number, b: MstNode, j: number): boolean {
  const da = a.data;
  const db = b.data;
  const pa = digestOffset(i);
  const pb = digestOffset(j);
  for (let t = 0; t < DIGEST_BYTES; t++) if (da[pa + t] !== db[pb + t]) return false;
  return true;
}

/** In place: only on a node the caller owns. */
export function writeDigest(node: MstNode, i: number, digest: Uint8Array): void {
  copyBytes(digest, 0, DIGEST_BYTES, node.data, digestOffset(i));
}

// --- search -----------------------------------------------------------------------------------

/** Sign of (key i of node) - key. */
export function compareKeyAt(node: MstNode, i: number, key: Uint8Array): number {
  const d = node.data;
  const s = keyStart(node, i);
  const la = keyEnd(node, i) - s;
  const lb = key.length;
  const m = la < lb ? la : lb;
  for (let t = 0; t < m; t++) {
    const x = d[s + t]! - key[t]!;
    if (x !== 0) return x;
  }
  return la - lb;
}

/** Compares key i of a with key j of b. */
export function compareKeys(a: MstNode, i: number, b: MstNode, j: number): number {
  const da = a.data;
  const db = b.data;
  const sa = keyStart(a, i);
  const sb = keyStart(b, j);
  const la = keyEnd(a, i) - sa;
  const lb = keyEnd(b, j) - sb;
  const m = la < lb ? la : lb;
  for (let t = 0; t < m; t++) {
    const x = da[sa + t]! - db[sb + t]!;
    if (x !== 0) return x;
  }
  return la - lb;
}

/** Index of `key` in the node if present, else ~gap where gap is the number of smaller keys. */
export function search(node: MstNode, key: Uint8Array): number {
  // The hot loop of every read and write: offsets hoisted, the comparison inlined by hand.
  const d = node.data;
  const eOff = endsOffset(node.cap);
  const kOff = keysOffset(node.cap);
  const kl = key.length;
  let lo = 0;
  let hi = node.n - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = kOff + (mid === 0 ? 0 : readU32(d, eOff + 4 * mid - 4));
    const la = kOff + readU32(d, eOff + 4 * mid) - s;
    const m = la < kl ? la : kl;
    let c = 0;
    for (let t = 0; t < m; t++) {
      c = d[s + t]! - key[t]!;
      if (c !== 0) break;
    }
    if (c === 0) c = la - kl;
    if (c < 0) lo = mid + 1;
    else if (c > 0) hi = mid - 1;
    else return mid;
  }
  return ~lo;
}

/** Number of keys <= key (the gap just after `key`, whether or not it is present). */
export function upperBound(node: MstNode, key: Uint8Array): number {
  const r = search(node, key);
  return r >= 0 ? r + 1 : ~r;
}

/** Number of keys < key. */
export function lowerBound(node: MstNode, key: Uint8Array): number {
  const r = search(node, key);
  return r >= 0 ? r : ~r;
}

/** The child in a gap, its content read from storage first when it is a stub. */
export function childAt(node: MstNode, gap: number): MstNode | null {
  const c = node.children;
  if (c === null) return null;
  const child = c[gap]!;
  if (child !== null) {
    if (child.src !== null) loadNode(child);
    child.touched = true;
  }
  return child;
}

/** The node itself, its content read first when it is a stub (a root, or a node evicted meanwhile). */
export function loaded<T extends MstNode | null>(node: T): T {
  if (node !== null && node.src !== null) loadNode(node);
  return node;
}

// --- building ---------------------------------------------------------------------------------

/**
 * Copies entries [from, to) of `src` into `dst` at entry index `at`, key bytes starting at
 * `keyOff` (relative to dst's key area). Returns the new keyOff.
 */
export function copyEntries(dst: MstNode, at: number, keyOff: number, src: MstNode, from: number, to: number): number {
  if (from >= to) return keyOff;
  const sd = src.data;
  const dd = dst.data;
  copyBytes(sd, digestOffset(from), digestOffset(to), dd, digestOffset(at));
  const sEnds = endsOffset(src.cap);
  const dEnds = endsOffset(dst.cap);
  const base = from === 0 ? 0 : readU32(sd, sEnds + 4 * (from - 1));
  const shift = keyOff - base;
  for (let i = from; i < to; i++) writeU32(dd, dEnds + 4 * (at + i - from), readU32(sd, sEnds + 4 * i) + shift);
  const sKeys = keysOffset(src.cap);
  const last = readU32(sd, sEnds + 4 * (to - 1));
  copyBytes(sd, sKeys + base, sKeys + last, dd, keysOffset(dst.cap) + keyOff);
  return keyOff + (last - base);
}

/** Writes one entry at index `at` of `dst`, its key at `keyOff`. Returns the new keyOff. */
export function putEntry(dst: MstNode, at: number, keyOff: number, key: Uint8Array, digest: Uint8Array): number {
  const dd = dst.data;
  copyBytes(digest, 0, DIGEST_BYTES, dd, digestOffset(at));
  const end = keyOff + key.length;
  writeU32(dd, endsOffset(dst.cap) + 4 * at, end);
  copyBytes(key, 0, key.length, dd, keysOffset(dst.cap) + keyOff);
  return end;
}

/** Inserts (key, digest) at index i of a node the caller owns: in place when it fits, else into a roomier buffer. */
export function insertEntry(node: MstNode, i: number, key: Uint8Array, digest: Uint8Array): void {
  const n = node.n;
  const cap = node.cap;
  const d = node.data;
  const klen = key.length;
  const used = keyBytes(node);
  const kOff = keysOffset(cap);
  if (n < cap && kOff + used + klen <= d.length) {
    const eOff = endsOffset(cap);
    const start = i === 0 ? 0 : readU32(d, eOff + 4 * (i - 1));
    if (i < n) d.copyWithin(digestOffset(i + 1), digestOffset(i), digestOffset(n));
    copyBytes(digest, 0, DIGEST_BYTES, d, digestOffset(i));
    for (let t = n - 1; t >= i; t--) writeU32(d, eOff + 4 * (t + 1), readU32(d, eOff + 4 * t) + klen);
    writeU32(d, eOff + 4 * i, start + klen);
    if (start < used) d.copyWithin(kOff + start + klen, kOff + start, kOff + used);
    copyBytes(key, 0, klen, d, kOff + start);
    node.n = n + 1;
    return;
  }
  const room = Math.max(2, (n + 1) >>> 2);
  const newCap = n + 1 + room;
  const keyRoom = Math.ceil(((used + klen) / (n + 1)) * room);
  const grown = new MstNode(node.layer, node.epoch, n + 1, newCap, new Uint8Array(keysOffset(newCap) + used + klen + keyRoom), null);
  let off = copyEntries(grown, 0, 0, node, 0, i);
  off = putEntry(grown, i, off, key, digest);
  copyEntries(grown, i + 1, off, node, i, n);
  node.data = grown.data;
  node.cap = newCap;
  node.n = n + 1;
}

/** Removes entry i of a node the caller owns (n >= 2), in place; a node left mostly empty is compacted. */
export function removeEntry(node: MstNode, i: number): void {
  const n = node.n;
  const cap = node.cap;
  const d = node.data;
  const eOff = endsOffset(cap);
  const kOff = keysOffset(cap);
  const start = i === 0 ? 0 : readU32(d, eOff + 4 * (i - 1));
  const end = readU32(d, eOff + 4 * i);
  const used = readU32(d, eOff + 4 * (n - 1));
  const klen = end - start;
  if (i < n - 1) d.copyWithin(digestOffset(i), digestOffset(i + 1), digestOffset(n));
  for (let t = i; t < n - 1; t++) writeU32(d, eOff + 4 * t, readU32(d, eOff + 4 * (t + 1)) - klen);
  if (end < used) d.copyWithin(kOff + start, kOff + end, kOff + used);
  node.n = n - 1;
  if (cap > 2 * node.n + 4) {
    const tight = allocNode(node.layer, node.epoch, node.n, used - klen, null);
    copyEntries(tight, 0, 0, node, 0, node.n);
    node.data = tight.data;
    node.cap = node.n;
  }
}

/** A new node holding entries [from, to) of `src`, with the given children (n + 1 slots or null). */
export function sliceNode(src: MstNode, from: number, to: number, epoch: number, children: Children | null): MstNode {
  const n = to - from;
  const bytes = n === 0 ? 0 : keyEnd(src, to - 1) - keyStart(src, from);
  const out = allocNode(src.layer, epoch, n, bytes, normalizeChildren(children));
  copyEntries(out, 0, 0, src, from, to);
  return out;
}

/** A new node holding all entries of a then all of b (same layer, a's keys first). */
export function concatNodes(a: MstNode, b: MstNode, epoch: number, children: Children | null): MstNode {
  const out = allocNode(a.layer, epoch, a.n + b.n, keyBytes(a) + keyBytes(b), normalizeChildren(children));
  const off = copyEntries(out, 0, 0, a, 0, a.n);
  copyEntries(out, a.n, off, b, 0, b.n);
  return out;
}

/** A private copy of `node` for the tree at `epoch`. */
export function cloneNode(node: MstNode, epoch: number): MstNode {
  nodeBytesCreated += node.data.length;
  const out = new MstNode(node.layer, epoch, node.n, node.cap, node.data.slice(), node.children === null ? null : node.children.slice());
  out.clean = node.clean;
  out.h0 = node.h0;
  out.h1 = node.h1;
  out.h2 = node.h2;
  out.h3 = node.h3;
  out.h4 = node.h4;
  out.h5 = node.h5;
  out.h6 = node.h6;
  out.h7 = node.h7;
  return out;
}

/** An all-empty children array is stored as null. */
export function normalizeChildren(children: Children | null): Children | null {
  if (children === null) return null;
  for (let i = 0; i < children.length; i++) if (children[i] !== null) return children;
  return null;
}

// --- encoding and hashing ---------------------------------------------------------------------

let scratch = new Uint8Array(1 << 16);

export function writeVarint(out: Uint8Array, at: number, v: number): number {
  while (v >= 0x80) {
    out[at++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  out[at++] = v;
  return at;
}

function varintLength(v: number): number {
  let bytes = 1;
  for (; v >= 0x80; v = Math.floor(v / 128)) bytes++;
  return bytes;
}

function word(b: Uint8Array, p: number): number {
  return (b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!;
}

function putWord(out: Uint8Array, p: number, w: number): void {
  out[p] = w >>> 24;
  out[p + 1] = (w >>> 16) & 0xff;
  out[p + 2] = (w >>> 8) & 0xff;
  out[p + 3] = w & 0xff;
}

function setHash(node: MstNode, h: Uint8Array): void {
  node.h0 = word(h, 0);
  node.h1 = word(h, 4);
  node.h2 = word(h, 8);
  node.h3 = word(h, 12);
  node.h4 = word(h, 16);
  node.h5 = word(h, 20);
  node.h6 = word(h, 24);
  node.h7 = word(h, 28);
  node.clean = true;
}

/** Writes a clean node's hash at out[at, at + 32). */
function putHash(node: MstNode, out: Uint8Array, at: number): void {
  putWord(out, at, node.h0);
  putWord(out, at + 4, node.h1);
  putWord(out, at + 8, node.h2);
  putWord(out, at + 12, node.h3);
  putWord(out, at + 16, node.h4);
  putWord(out, at + 20, node.h5);
  putWord(out, at + 24, node.h6);
  putWord(out, at + 28, node.h7);
}

/**
 * How one gap of a (possibly partial) node is encoded: `undefined` = the node's own child,
 * null = empty, bytes = that hash. Partial nodes arise when hashing a key range (see tree.ts).
 */
export type ChildOverride = Uint8Array | null | undefined;

function writeChild(out: Uint8Array, at: number, node: MstNode, gap: number, override: ChildOverride): number {
  if (override === undefined) {
    // A stub's hash is all the encoding needs: no read from storage.
    const c = node.children === null ? null : node.children[gap]!;
    if (c === null) {
      out[at] = 0;
      return at + 1;
    }
    out[at] = 1;
    putHash(c, out, at + 1);
    return at + 1 + HASH_BYTES;
  }
  if (override === null) {
    out[at] = 0;
    return at + 1;
  }
  out[at] = 1;
  copyBytes(override, 0, HASH_BYTES, out, at + 1);
  return at + 1 + HASH_BYTES;
}

/** An upper bound of the preimage size of entries [from, to) (key lengths take at most 5 bytes). */
function preimageBound(node: MstNode, from: number, to: number): number {
  const n = to - from;
  const keys = keyEnd(node, to - 1) - keyStart(node, from);
  return 6 + (5 + DIGEST_BYTES) * n + keys + (1 + HASH_BYTES) * (n + 1);
}

/**
 * Writes the preimage of entries [from, to) of `node`; gap `from` may be replaced by `first`,
 * gap `to` by `last`. The node's own children in between must already be hashed.
 */
function writePreimage(out: Uint8Array, node: MstNode, from: number, to: number, first: ChildOverride, last: ChildOverride): number {
  const d = node.data;
  out[0] = node.layer;
  let at = writeVarint(out, 1, to - from);
  const eOff = endsOffset(node.cap);
  let prev = from === 0 ? 0 : readU32(d, eOff + 4 * (from - 1));
  const keysFrom = prev;
  for (let i = from; i < to; i++) {
    const end = readU32(d, eOff + 4 * i);
    const len = end - prev;
    if (len < 0x80) out[at++] = len;
    else at = writeVarint(out, at, len);
    prev = end;
  }
  const kOff = keysOffset(node.cap);
  copyBytes(d, kOff + keysFrom, kOff + prev, out, at);
  at += prev - keysFrom;
  copyBytes(d, digestOffset(from), digestOffset(to), out, at);
  at += DIGEST_BYTES * (to - from);
  at = writeChild(out, at, node, from, first);
  if (node.children === null) {
    out.fill(0, at, at + (to - from - 1));
    at += to - from - 1;
  } else {
    for (let g = from + 1; g < to; g++) at = writeChild(out, at, node, g, undefined);
  }
  return writeChild(out, at, node, to, last);
}

function ensureChildrenHashed(node: MstNode, from: number, to: number): void {
  const c = node.children;
  if (c === null) return;
  for (let g = from; g <= to; g++) {
    const child = c[g]!;
    if (child !== null && !child.clean) ensureHashed(child);
  }
}

function scratchFor(size: number): Uint8Array {
  if (scratch.length < size) scratch = new Uint8Array(Math.max(size, scratch.length * 2));
  return scratch;
}

/** Hashes every dirty node under `node` (and `node`): only what changed since the last call. */
export function ensureHashed(node: MstNode): void {
  if (node.clean) return;
  ensureChildrenHashed(node, 0, node.n);
  const out = scratchFor(preimageBound(node, 0, node.n));
  const len = writePreimage(out, node, 0, node.n, undefined, undefined);
  setHash(node, nodeCryptoHash('sha256', out.subarray(0, len), 'buffer'));
}

/** The node's hash as a fresh array. */
export function nodeHash(node: MstNode): Uint8Array {
  ensureHashed(node);
  const out = new Uint8Array(HASH_BYTES);
  putHash(node, out, 0);
  return out;
}

/** Both nodes hashed and equal (identical nodes short-cut). */
export function sameHash(a: MstNode, b: MstNode): boolean {
  if (a === b) return true;
  ensureHashed(a);
  ensureHashed(b);
  return (
    a.h0 === b.h0 && a.h1 === b.h1 && a.h2 === b.h2 && a.h3 === b.h3 && a.h4 === b.h4 && a.h5 === b.h5 && a.h6 === b.h6 && a.h7 === b.h7
  );
}

export function hashEqualsBytes(node: MstNode, hash: Uint8Array): boolean {
  ensureHashed(node);
  return (
    node.h0 === word(hash, 0) &&
    node.h1 === word(hash, 4) &&
    node.h2 === word(hash, 8) &&
    node.h3 === word(hash, 12) &&
    node.h4 === word(hash, 16) &&
    node.h5 === word(hash, 20) &&
    node.h6 === word(hash, 24) &&
    node.h7 === word(hash, 28)
  );
}

/** The canonical encoding of the whole node (a fresh array). */
export function encodeNode(node: MstNode): Uint8Array {
  ensureChildrenHashed(node, 0, node.n);
  const out = scratchFor(preimageBound(node, 0, node.n));
  return out.slice(0, writePreimage(out, node, 0, node.n, undefined, undefined));
}

/**
 * Hash of the node restricted to entries [from, to) (from < to), with gap `from` replaced by
 * `first` and gap `to` by `last`: the root of the canonical tree of a key range whose top layer
 * is this node's.
 */
export function partialHash(node: MstNode, from: number, to: number, first: ChildOverride, last: ChildOverride): Uint8Array {
  ensureChildrenHashed(node, first === undefined ? from : from + 1, last === undefined ? to : to - 1);
  const out = scratchFor(preimageBound(node, from, to));
  const len = writePreimage(out, node, from, to, first, last);
  return nodeCryptoHash('sha256', out.subarray(0, len), 'buffer');
}

// --- persistence ------------------------------------------------------------------------------

/**
 * A persisted node's record: its canonical encoding (so its hash can be checked against what its
 * parent holds when it is read back), then the record ids of its non-empty children, in gap
 * order: `varint preimageLength | preimage | varint childId...`.
 *
 * The preimage is written once, and a node not hashed yet is hashed from it: a checkpoint stores
 * exactly the nodes changed since the last one, which are the ones a write left unhashed, so
 * hashing them separately first wrote every preimage twice. The record is one allocation from
 * Buffer's pool: a checkpoint makes tens of thousands of them, and an array buffer of its own
 * each (with the copies of an intermediate encoding) cost more than their hashing.
 */
export function encodeRecord(node: MstNode): Uint8Array {
  ensureChildrenHashed(node, 0, node.n);
  const out = scratchFor(preimageBound(node, 0, node.n) + 7 * (node.n + 1));
  const len = writePreimage(out, node, 0, node.n, undefined, undefined);
  if (!node.clean) setHash(node, nodeCryptoHash('sha256', out.subarray(0, len), 'buffer'));
  let end = len;
  const c = node.children;
  if (c !== null) {
    for (const child of c) {
      if (child === null) continue;
      if (child.id === 0) throw new MstError('STATE', 'a node is stored before its children');
      end = writeVarint(out, end, child.id);
    }
  }
  const head = varintLength(len);
  const record = Buffer.allocUnsafe(head + end);
  writeVarint(record, 0, len);
  record.set(out.subarray(0, end), head);
  return record;
}

const NO_DATA = new Uint8Array(0);

/** A node known by its record id and hash only; its content is read from `src` when first needed. */
export function stubNode(id: number, hash: Uint8Array, src: NodeSource): MstNode {
  const node = new MstNode(0, 0, 0, 0, NO_DATA, null);
  node.id = id;
  node.src = src;
  setHash(node, hash);
  return node;
}

/** Drops a stored, clean node's content (and so its loaded subtree) back to a stub. */
export function unloadNode(node: MstNode, src: NodeSource): void {
  node.src = src;
  node.data = NO_DATA;
  node.children = null;
  node.n = 0;
  node.cap = 0;
  node.touched = false;
}

/** Bytes of node content read from storage or built, across all trees: a cheap trigger for eviction sweeps. */
let nodeBytesCreated = 0;

export function createdNodeBytes(): number {
  return nodeBytesCreated;
}

function readVarint(buf: Uint8Array, at: number): [value: number, next: number] {
  let v = 0;
  let scale = 1;
  for (;;) {
    const b = buf[at++];
    if (b === undefined) throw new RangeError('truncated varint');
    v += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) return [v, at];
    scale *= 128;
  }
}

/** The record ids of a stored node's children, in gap order (for checks of what storage holds). */
export function recordChildIds(record: Uint8Array): number[] {
  const [length, start] = readVarint(record, 0);
  const ids: number[] = [];
  for (let at = start + length; at < record.length; ) {
    let id: number;
    [id, at] = readVarint(record, at);
    ids.push(id);
  }
  return ids;
}

/** Reads a stub's record and fills the node in place; the record must hash to the stub's hash. */
export function loadNode(node: MstNode): void {
  const src = node.src!;
  const record = src.read(node.id);
  if (record === undefined) throw new MstError('CORRUPT', `tree node ${node.id} is missing from storage`);
  let preimage: Uint8Array;
  let at: number;
  try {
    const [length, start] = readVarint(record, 0);
    preimage = record.subarray(start, start + length);
    at = start + length;
    if (preimage.length !== length || length === 0) throw new RangeError('truncated');
  } catch (cause) {
    throw new MstError('CORRUPT', `tree node ${node.id}: unreadable record`, { cause });
  }
  const hash = nodeCryptoHash('sha256', preimage, 'buffer');
  if (!hashEqualsBytes(node, hash)) throw new MstError('CORRUPT', `tree node ${node.id} does not match its hash`);
  // The preimage hashed to what the parent holds, so it is a node this library encoded.
  const layer = preimage[0]!;
  const [n, keyLengthsAt] = readVarint(preimage, 1);
  let p = keyLengthsAt;
  const lengths: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    let len: number;
    [len, p] = readVarint(preimage, p);
    lengths.push(len);
    total += len;
  }
  const data = new Uint8Array(keysOffset(n) + total);
  const eOff = endsOffset(n);
  const kOff = keysOffset(n);
  let end = 0;
  for (let i = 0; i < n; i++) {
    end += lengths[i]!;
    writeU32(data, eOff + 4 * i, end);
  }
  copyBytes(preimage, p, p + total, data, kOff);
  p += total;
  copyBytes(preimage, p, p + DIGEST_BYTES * n, data, 0);
  p += DIGEST_BYTES * n;
  let children: Children | null = null;
  for (let g = 0; g <= n; g++) {
    const flag = preimage[p++];
    if (flag === 0) continue;
    const childHash = preimage.subarray(p, p + HASH_BYTES);
    p += HASH_BYTES;
    let childId: number;
    [childId, at] = readVarint(record, at);
    children ??= new Array<MstNode | null>(n + 1).fill(null);
    children[g] = stubNode(childId, childHash, src);
  }
  node.layer = layer;
  node.n = n;
  node.cap = n;
  node.data = data;
  node.children = children;
  node.src = null;
  nodeBytesCreated += data.length;
}
