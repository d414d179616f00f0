/**
 * Key ranges of a tree for set reconciliation (#anti-entropy's sketch sessions): fingerprints of
 * half-open ranges [lo, hi), the keys that split a range by layer, and an allocation-free scan
 * of a range's entries. A range's fingerprint comes from the cached hashes (rangeHash, see the
 * essay in tree.ts): O(height), whatever the number of keys in the range. Everything here reads
 * a frozen tree: pass a snapshot.
 */
import { compareBytes } from './bytes.js';
import { sha256 } from './layer.js';
import { childAt, copyKey, DIGEST_BYTES, keyEnd, keyStart, lowerBound, type MstNode, search } from './node.js';
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
  // inLo / inHi: the whole subtree is known to be at or above lo / below hi (no search needed).
  const walk = (node: MstNode | null, inLo: boolean, inHi: boolean): void => {
    if (node === null) return;
    const from = inLo ? 0 : lowerBound(node, lo!);
    const to = inHi ? node.n : lowerBound(node, hi!);
    for (let i = from; i <= to; i++) {
      walk(childAt(node, i), inLo || i > from, inHi || i < to);
      if (i < to) visit(node.data, keyStart(node, i), keyEnd(node, i), DIGEST_BYTES * i);
    }
  };
  walk(rootNode(tree), lo === null, hi === null);
}
