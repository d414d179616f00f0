/**
 * The reference MerkleKV server's `HASH` root, bit for bit.
 *
 * Definition (PROTOCOL.md): leaves are the live key/value pairs in key byte order; a leaf is
 * SHA-256(u32be |key| ‖ key ‖ u32be |value| ‖ value); the next level pairs neighbours,
 * parent = SHA-256(left ‖ right), and on a level of odd length the last node moves up unchanged;
 * the root prints as lowercase hex, and no leaves at all print as 64 zeros.
 *
 * The reference rebuilds that tree level by level after every write. Here the root is computed in
 * one streaming pass with a stack of complete subtrees, one per set bit of the leaf count, like
 * a binary counter: adding a leaf merges equal-height subtrees; at the end the remaining subtrees
 * are folded from the right (smallest first). This is the same tree as the level-by-level one,
 * because an odd node promoted unchanged is exactly a right-edge subtree waiting for its left
 * partner. So the cost is one SHA-256 per leaf plus one per parent (O(n)), with O(log n) memory,
 * and the store can stream its keys straight from disk.
 *
 * Ordering is the caller's job: the store already iterates keys in byte order, and sorting here
 * would force the whole key space into memory. Input out of order (or a repeated key) throws
 * instead of silently producing a different root.
 */
import { createHash, hash } from 'node:crypto';

/** The root of an empty key space. */
export const EMPTY_REFERENCE_ROOT = '0'.repeat(64);

const DIGEST_BYTES = 32;
/** Leaves up to this size are hashed from one scratch buffer; bigger ones stream through a Hash. */
const SCRATCH_BYTES = 64 * 1024;
let scratch = Buffer.allocUnsafeSlow(1024);
const pair = Buffer.allocUnsafeSlow(2 * DIGEST_BYTES);

/** SHA-256(u32be |key| ‖ key ‖ u32be |value| ‖ value): the reference leaf, cacheable per entry. */
export function referenceLeafHash(key: Uint8Array, value: Uint8Array): Buffer {
  const size = 8 + key.length + value.length;
  if (size > SCRATCH_BYTES) {
    const lengths = Buffer.allocUnsafe(8);
    lengths.writeUInt32BE(key.length, 0);
    lengths.writeUInt32BE(value.length, 4);
    return createHash('sha256').update(lengths.subarray(0, 4)).update(key).update(lengths.subarray(4)).update(value).digest();
  }
  if (scratch.length < size) scratch = Buffer.allocUnsafeSlow(Math.max(size, scratch.length * 2));
  scratch.writeUInt32BE(key.length, 0);
  scratch.set(key, 4);
  scratch.writeUInt32BE(value.length, 4 + key.length);
  scratch.set(value, 8 + key.length);
  return hash('sha256', scratch.subarray(0, size), 'buffer');
}

function parentHash(left: Uint8Array, right: Uint8Array): Buffer {
  pair.set(left, 0);
  pair.set(right, DIGEST_BYTES);
  return hash('sha256', pair, 'buffer');
}

/** Streams leaves in ascending key byte order and yields the reference root. */
export class ReferenceMerkleBuilder {
  /** Complete subtrees, left to right, strictly decreasing in height. */
  readonly #hashes: Buffer[] = [];
  readonly #heights: number[] = [];
  #count = 0;
  #lastKey: Buffer = Buffer.allocUnsafeSlow(64);
  #lastKeyLength = -1;

  /** Number of leaves added so far. */
  get leafCount(): number {
    return this.#count;
  }

  /** Adds the pair whose key sorts after every key added before. */
  add(key: Uint8Array, value: Uint8Array): this {
    return this.addLeafHash(key, referenceLeafHash(key, value));
  }

  /** Adds a leaf whose hash the caller computed (or cached) with {@link referenceLeafHash}. */
  addLeafHash(key: Uint8Array, leafHash: Uint8Array): this {
    if (leafHash.length !== DIGEST_BYTES) throw new RangeError(`a leaf hash has ${DIGEST_BYTES} bytes, got ${leafHash.length}`);
    this.#checkOrder(key);
    let node = Buffer.isBuffer(leafHash) ? leafHash : Buffer.from(leafHash);
    let height = 0;
    while (this.#heights.length > 0 && this.#heights[this.#heights.length - 1] === height) {
      this.#heights.pop();
      node = parentHash(this.#hashes.pop()!, node);
      height++;
    }
    this.#hashes.push(node);
    this.#heights.push(height);
    this.#count++;
    return this;
  }

  /** Lowercase hex root of the leaves added so far ({@link EMPTY_REFERENCE_ROOT} for none). */
  root(): string {
    const hashes = this.#hashes;
    if (hashes.length === 0) return EMPTY_REFERENCE_ROOT;
    let node = hashes[hashes.length - 1]!;
    for (let i = hashes.length - 2; i >= 0; i--) node = parentHash(hashes[i]!, node);
    return node.toString('hex');
  }

  #checkOrder(key: Uint8Array): void {
    const last = this.#lastKey.subarray(0, Math.max(this.#lastKeyLength, 0));
    if (this.#lastKeyLength >= 0 && Buffer.compare(last, key) >= 0) {
      throw new RangeError(
        `reference Merkle leaves must be in strictly ascending key byte order: ` +
          `${Buffer.from(key).toString('hex')} after ${last.toString('hex')}`,
      );
    }
    // Copied: a caller may reuse its key buffer between calls.
    if (this.#lastKey.length < key.length) this.#lastKey = Buffer.allocUnsafeSlow(Math.max(key.length, this.#lastKey.length * 2));
    this.#lastKey.set(key, 0);
    this.#lastKeyLength = key.length;
  }
}

/**
 * The reference root of `leaves`, which must come in strictly ascending key byte order (as the
 * store iterates them; sort with `Buffer.compare` otherwise). Throws a RangeError on disorder.
 */
export function referenceMerkleRoot(leaves: Iterable<readonly [key: Uint8Array, value: Uint8Array]>): string {
  const builder = new ReferenceMerkleBuilder();
  for (const [key, value] of leaves) builder.add(key, value);
  return builder.root();
}
