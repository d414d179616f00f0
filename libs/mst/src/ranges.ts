/**
 * Key ranges of a tree for set reconciliation (#anti-entropy's sketch sessions): fingerprints of
 * half-open ranges [lo, hi), the keys that split a range by layer, and an allocation-free scan
 * of a range's entries. A range's fingerprint comes from the cached hashes (rangeHash, see the
 * essay in tree.ts): O(height), whatever the number of keys in the range. Everything here reads
 * a frozen tree: pass a snapshot.
 */
import { compareBytes } from './bytes.js';
import { sha256 } from './layer.js';
import { childAt, compareKeyAt, copyKey, DIGEST_BYTES, ensureHashed, keyEnd, keyStart, loaded, lowerBound, type MstNode, search, visitEntries } from './node.js';
import { findDigest, type MerkleSearchTree, rangeHash, rootNode } from './tree.js';

/** Bytes of a range fingerprint: a collision costs a verification pass, never a lost difference. */
export const RANGE_FINGERPRINT_BYTES = 6;

/**
 * The fingerprint of the tree's entries in [lo, hi) (null bounds are unbounded), salted so that
 * a collision between two ranges does not repeat in the next session. Equal entries in the
 * range give equal fingerprints on every replica, whatever the shapes of the trees around it.
 */
export function rangeFingerprint(tree: MerkleSearchTree, lo: Uint8Array | null, hi: Uint8Array | null, salt: number): Uint8Array {
  const input = new Uint8Array(4 + 1 + DIGEST_BYTES + 1 + 32);
  new DataView(input.buffer).setUint32(0, salt >>> 0);
  // An empty range (hi at or below lo) holds nothing on any replica (rangeHash wants lo < hi).
  if (lo !== null && hi !== null && compareBytes(lo, hi) >= 0) return sha256(input).subarray(0, RANGE_FINGERPRINT_BYTES);
  const root = rootNode(tree);
  const first = lo === null ? undefined : findDigest(root, lo);
  if (first !== undefined) {
    input[4] = 1;
    input.set(first, 5);
  }
  const rest = rangeHash(root, lo, hi);
  if (rest !== null) {
    input[5 + DIGEST_BYTES] = 1;
    input.set(rest, 6 + DIGEST_BYTES);
  }
  return sha256(input).subarray(0, RANGE_FINGERPRINT_BYTES);
}

/** The root node's layer and keys (copies): the tree's coarsest split. Null for an empty tree. */
export function topKeys(tree: MerkleSearchTree): { layer: number; keys: Uint8Array[] } | null {
  const root = rootNode(tree);
  if (root === null) return null;
  const keys: Uint8Array[] = [];
  for (let i = 0; i < root.n; i++) keys.push(copyKey(root, i));
  return { layer: root.layer, keys };
}

/**
 * The keys on layer `layer` or above inside the open range (lo, hi), ascending (copies). They
 * split the range into pieces of about fanout^layer keys; only nodes on those layers are read.
 */
export function keysFromLayer(tree: MerkleSearchTree, layer: number, lo: Uint8Array | null, hi: Uint8Array | null): Uint8Array[] {
  const out: Uint8Array[] = [];
  const visit = (node: MstNode | null): void => {
    if (node === null || node.layer < layer) return;
    const from = lo === null ? 0 : upper(node, lo);
    const to = hi === null ? node.n : lowerBound(node, hi);
    for (let i = from; i <= to; i++) {
      visit(childAt(node, i));
      if (i < to) out.push(copyKey(node, i));
    }
  };
  visit(rootNode(tree));
  return out;
}

function keyIs(node: MstNode, i: number, key: Uint8Array): boolean {
  return compareKeyAt(node, i, key) === 0;
}

function upper(node: MstNode, key: Uint8Array): number {
  const r = search(node, key);
  return r >= 0 ? r + 1 : ~r;
}

/** Called for each entry of a scan: the key is data[keyFrom, keyTo), the digest data[digestAt, digestAt + 32). */
export type EntryVisitor = (data: Uint8Array, keyFrom: number, keyTo: number, digestAt: number) => void;

/**
 * Visits the entries in [lo, hi) in key order without allocating per entry (the views would
 * dominate a scan of a million keys). The tree must not change during the call.
 */
export function scanRange(tree: MerkleSearchTree, lo: Uint8Array | null, hi: Uint8Array | null, visit: EntryVisitor): void {
  scanNode(rootNode(tree), lo, hi, lo === null, hi === null, visit);
}

/** The entries of `node`'s subtree in [lo, hi); inLo / inHi: the whole subtree is known to be at or above lo / below hi (no search needed). */
function scanNode(node: MstNode | null, lo: Uint8Array | null, hi: Uint8Array | null, inLo: boolean, inHi: boolean, visit: EntryVisitor): void {
  if (node === null) return;
  const from = inLo ? 0 : lowerBound(node, lo!);
  const to = inHi ? node.n : lowerBound(node, hi!);
  // Most nodes are leaves: their entries in one loop.
  if (node.children === null) {
    visitEntries(node, from, to, visit);
    return;
  }
  for (let i = from; i <= to; i++) {
    scanNode(childAt(node, i), lo, hi, inLo || i > from, inHi || i < to, visit);
    if (i < to) visit(node.data, keyStart(node, i), keyEnd(node, i), DIGEST_BYTES * i);
  }
}

/** What walkPieces reports. */
interface PieceVisitor {
  /** The next piece starts (at a key). */
  cut(): void;
  /**
   * A subtree below `layer` inside the current piece; inLo / inHi as in scanNode. It may be a
   * stub, not read from storage yet (its hash is known): read it with `loaded` to go inside.
   */
  below(node: MstNode, inLo: boolean, inHi: boolean): void;
  /** Key i of `node`, on `layer` or above, inside the current piece (its first key, but for lo). */
  key(node: MstNode, i: number): void;
}

/**
 * The pieces the keys on layer `layer` or above cut [lo, hi) into: [lo, k_1), [k_1, k_2), ...,
 * [k_m, hi), in key order (lo itself is never a cut). A piece is its first key and the subtree
 * below `layer` that hangs between two such keys; only nodes on `layer` or above are searched.
 */
function walkPieces(tree: MerkleSearchTree, layer: number, lo: Uint8Array | null, hi: Uint8Array | null, visitor: PieceVisitor): void {
  // An empty range (hi at or below lo) is one empty piece on every replica.
  if (lo !== null && hi !== null && compareBytes(lo, hi) >= 0) return;
  const walk = (node: MstNode | null, inLo: boolean, inHi: boolean): void => {
    if (node === null) return;
    if (node.layer < layer) {
      visitor.below(node, inLo, inHi);
      return;
    }
    const from = inLo ? 0 : lowerBound(node, lo!);
    const to = inHi ? node.n : lowerBound(node, hi!);
    // Where a bound is a key of this node, the gap beside it lies wholly outside (lo) or inside
    // (hi) the range: no partial subtree to hash (the common case: the bounds are our own keys).
    const atLo = !inLo && from < node.n && keyIs(node, from, lo!);
    const atHi = !inHi && to < node.n && keyIs(node, to, hi!);
    for (let i = from; i <= to; i++) {
      if (!(atLo && i === from)) {
        const childInLo = inLo || i > from;
        const childInHi = inHi || i < to || atHi;
        // Every child of a node on `layer` lies below it: handed over unread, since a piece
        // wholly inside the range needs only its subtree's hash, which a stub holds.
        if (node.layer === layer) {
          const child = node.children?.[i] ?? null;
          if (child !== null) visitor.below(child, childInLo, childInHi);
        } else walk(childAt(node, i), childInLo, childInHi);
      }
      if (i === to) break;
      if (!(atLo && i === from)) visitor.cut();
      visitor.key(node, i);
    }
  };
  walk(rootNode(tree), lo === null, hi === null);
}

/**
 * The 32-bit fingerprints of the pieces (see walkPieces) of [lo, hi) on layer `layer`. A piece's
 * fingerprint mixes its first key and digest with the cached node hash of the subtree below it:
 * no node below `layer` is read (from memory or storage), and no SHA-256 is computed where the
 * bounds are keys of this tree. Equal pieces give equal fingerprints on every replica (the
 * subtree of a set of keys is canonical); a replica whose keys on those layers differ has
 * another number of pieces. Salted like rangeFingerprint. The tree must not change during the
 * call.
 */
export function pieceFingerprints(tree: MerkleSearchTree, layer: number, lo: Uint8Array | null, hi: Uint8Array | null, salt: number): Uint32Array {
  const out: number[] = [];
  let acc = pieceSeed(salt);
  walkPieces(tree, layer, lo, hi, {
    cut: () => {
      out.push(pieceFinish(acc));
      acc = pieceSeed(salt);
    },
    below: (node, inLo, inHi) => {
      if (inLo && inHi) {
        ensureHashed(node);
        acc = mixWord(mixWord(mixWord(mixWord(acc, node.h0), node.h1), node.h2), node.h3);
        return;
      }
      // lo itself, when it is a key below `layer` (never so in a session: its cuts are keys of
      // higher layers, and a key's layer is the same in every tree), then the open range's hash.
      const subtree = loaded(node);
      const first = inLo ? undefined : findDigest(subtree, lo!);
      if (first !== undefined) acc = foldDigest(foldKey(acc, lo!, 0, lo!.length), first, 0);
      const h = rangeHash(subtree, lo, hi, inLo, inHi);
      if (h !== null) acc = foldDigest(acc, h, 0);
    },
    key: (node, i) => {
      acc = foldDigest(foldKey(acc, node.data, keyStart(node, i), keyEnd(node, i)), node.data, DIGEST_BYTES * i);
    },
  });
  out.push(pieceFinish(acc));
  return Uint32Array.from(out);
}

/** Visits the entries of the pieces (see walkPieces) of [lo, hi) on layer `layer` whose flag in `include` is set, in key order. */
export function scanPieces(tree: MerkleSearchTree, layer: number, lo: Uint8Array | null, hi: Uint8Array | null, include: readonly boolean[], visit: EntryVisitor): void {
  let piece = 0;
  walkPieces(tree, layer, lo, hi, {
    cut: () => {
      piece++;
    },
    below: (node, inLo, inHi) => {
      if (include[piece] === true) scanNode(loaded(node), lo, hi, inLo, inHi, visit);
    },
    key: (node, i) => {
      if (include[piece] === true) visit(node.data, keyStart(node, i), keyEnd(node, i), DIGEST_BYTES * i);
    },
  });
}

const pieceSeed = (salt: number): number => (0x811c9dc5 ^ salt) >>> 0;

function readWord(d: Uint8Array, p: number): number {
  return ((d[p]! << 24) | (d[p + 1]! << 16) | (d[p + 2]! << 8) | d[p + 3]!) >>> 0;
}

function foldKey(h: number, d: Uint8Array, from: number, to: number): number {
  for (let p = from; p < to; p++) h = Math.imul(h ^ d[p]!, 0x01000193);
  return h;
}

/** Folds 16 bytes of a digest or hash (uniform already) at `at`. */
function foldDigest(h: number, d: Uint8Array, at: number): number {
  for (let p = at; p < at + 16; p += 4) h = mixWord(h, readWord(d, p));
  return h;
}

/** One step of a murmur3-like mix: inputs here are already uniform hashes, so a cheap mix suffices. */
function mixWord(h: number, w: number): number {
  let k = Math.imul(w, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  return (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
}

/** Signed (a small integer, where an unsigned word above 2^31 would be a boxed number): the caller stores it in a Uint32Array. */
function pieceFinish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
