/**
 * Inclusion and absence proofs. A proof is the canonical encodings of the nodes on a key's
 * search path, root first; it ends at the node holding the key (inclusion) or at a node whose
 * gap for the key is empty (absence). Verifying needs only the trusted root hash: each node must
 * hash to the child hash its parent gives for the key's gap, its keys must be ascending and lie
 * inside that gap, and layers must decrease. The empty tree proves every absence with no node.
 */
import { compareBytes, equalBytes } from './bytes.js';
import { sha256 } from './layer.js';
import { childAt, EMPTY_ROOT, encodeNode, HASH_BYTES, search, writeVarint } from './node.js';
import { type MerkleSearchTree, rootNode } from './tree.js';
import { type DecodeLimits, decodeNode, DEFAULT_MAX_KEY_BYTES, Reader } from './wire.js';

export interface MstProof {
  readonly key: Uint8Array;
  /** Canonical node encodings from the root down the key's path. */
  readonly nodes: readonly Uint8Array[];
}

export type ProofVerdict =
  | { readonly valid: true; readonly present: true; readonly digest: Uint8Array }
  | { readonly valid: true; readonly present: false }
  | { readonly valid: false; readonly reason: string };

/** A proof of `key`'s digest, or of its absence, against the tree's current root. */
export function prove(tree: MerkleSearchTree, key: Uint8Array): MstProof {
  const nodes: Uint8Array[] = [];
  let node = rootNode(tree);
  while (node !== null) {
    nodes.push(encodeNode(node));
    const r = search(node, key);
    if (r >= 0) break;
    node = childAt(node, ~r);
  }
  return { key: key.slice(), nodes };
}

/** Checks a proof against a root hash. Never throws on malformed input: it is just invalid. */
export function verifyProof(root: Uint8Array, proof: MstProof): ProofVerdict {
  const invalid = (reason: string): ProofVerdict => ({ valid: false, reason });
  if (root.length !== HASH_BYTES) return invalid('root hash must be 32 bytes');
  const key = proof.key;
  if (proof.nodes.length === 0) return equalBytes(root, EMPTY_ROOT) ? { valid: true, present: false } : invalid('no nodes for a non-empty tree');
  let expected: Uint8Array = root;
  let above = Infinity;
  let lo: Uint8Array | null = null;
  let hi: Uint8Array | null = null;
  // Every step returns or descends, and the last node always returns.
  for (let depth = 0; ; depth++) {
    const bytes = proof.nodes[depth]!;
    if (!equalBytes(sha256(bytes), expected)) return invalid(`node ${depth} does not match its hash`);
    let s;
    try {
      s = decodeNode(bytes, { maxKeyBytes: Number.MAX_SAFE_INTEGER }, expected);
    } catch (err) {
      return invalid(`node ${depth}: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (!(s.layer < above)) return invalid(`node ${depth}: layer does not decrease`);
    above = s.layer;
    const n = s.keys.length;
    if ((lo !== null && compareBytes(s.keys[0]!, lo) <= 0) || (hi !== null && compareBytes(s.keys[n - 1]!, hi) >= 0)) {
      return invalid(`node ${depth}: keys outside the parent's gap`);
    }
    // Gap of the key: number of node keys below it.
    let g = 0;
    while (g < n && compareBytes(s.keys[g]!, key) < 0) g++;
    const last = depth === proof.nodes.length - 1;
    if (g < n && compareBytes(s.keys[g]!, key) === 0) {
      return last ? { valid: true, present: true, digest: s.digests[g]!.slice() } : invalid('nodes after the one holding the key');
    }
    const child = s.children[g]!;
    if (child === null) return last ? { valid: true, present: false } : invalid('nodes after an empty gap');
    if (last) return invalid('the proof stops before the key is found or ruled out');
    expected = child;
    lo = g === 0 ? lo : s.keys[g - 1]!;
    hi = g === n ? hi : s.keys[g]!;
  }
}

/** True iff the proof shows `key` with exactly `digest` under `root`. */
export function verifyInclusion(root: Uint8Array, key: Uint8Array, digest: Uint8Array, proof: MstProof): boolean {
  if (!equalBytes(key, proof.key)) return false;
  const v = verifyProof(root, proof);
  return v.valid && v.present && equalBytes(v.digest, digest);
}

/** True iff the proof shows that `key` is absent under `root`. */
export function verifyAbsence(root: Uint8Array, key: Uint8Array, proof: MstProof): boolean {
  if (!equalBytes(key, proof.key)) return false;
  const v = verifyProof(root, proof);
  return v.valid && !v.present;
}

//   proof = 0x01 'P' | varint keyLength | key | varint count | count x ( varint len | node )

const VERSION = 1;
const KIND_PROOF = 0x50; // 'P'
/** Layers strictly decrease along a path and fit a byte. */
const MAX_PROOF_NODES = 256;

export function encodeProof(proof: MstProof): Uint8Array {
  let size = 2 + 5 + proof.key.length + 5;
  for (const node of proof.nodes) size += 5 + node.length;
  const out = new Uint8Array(size);
  out[0] = VERSION;
  out[1] = KIND_PROOF;
  let at = writeVarint(out, 2, proof.key.length);
  out.set(proof.key, at);
  at = writeVarint(out, at + proof.key.length, proof.nodes.length);
  for (const node of proof.nodes) {
    at = writeVarint(out, at, node.length);
    out.set(node, at);
    at += node.length;
  }
  return out.subarray(0, at);
}

export function decodeProof(bytes: Uint8Array, limits: DecodeLimits = {}): MstProof {
  const r = new Reader(bytes, 'proof');
  const version = r.u8();
  if (version !== VERSION) r.fail(`unknown version ${version}`);
  if (r.u8() !== KIND_PROOF) r.fail('not a proof');
  const key = r.bytes(r.varint(Math.min(limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES, r.remaining), 'key length')).slice();
  const count = r.varint(Math.min(MAX_PROOF_NODES, r.remaining), 'node count');
  const nodes: Uint8Array[] = [];
  for (let i = 0; i < count; i++) nodes.push(r.bytes(r.varint(r.remaining, 'node length')).slice());
  r.end();
  return { key, nodes };
}
