/**
 * The data set of bench:capacity: key i and its value are pure functions of i, so any later
 * phase (a restart, a random GET check) recomputes what the node must answer without keeping
 * 20 million expected values in this process.
 *
 * Keys are `k` and the index in 10 digits (11 bytes). Values are drawn from a 64-character
 * alphabet (letters, digits, `-`, `_`: printable, no spaces, which an MSET value cannot hold)
 * by mulberry32 seeded with the index, 5 characters per 32-bit draw.
 *
 * The fill does not write keys in index order: `FillOrder` visits 0..n-1 by a fixed stride
 * coprime with n, so consecutive writes land all over the key space and every memtable the
 * store flushes spans the whole range, as with real traffic; a sorted fill would let an LSM
 * tree move its files down without ever merging them and understate write amplification.
 */

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const ALPHABET_CODES = Uint8Array.from(ALPHABET, (c) => c.charCodeAt(0));
const KEY_DIGITS = 10;
export const KEY_BYTES = 1 + KEY_DIGITS;
const SPACE = 0x20;
const CR = 0x0d;
const LF = 0x0a;
const MSET = Buffer.from('MSET');

/** The key of index `index` (0 ≤ index < 10^10). */
export function capacityKey(index: number): string {
  return `k${String(index).padStart(KEY_DIGITS, '0')}`;
}

/** A 32-bit seed from an index of up to 53 bits. */
function seedOf(index: number): number {
  const lo = index >>> 0;
  const hi = Math.floor(index / 2 ** 32) >>> 0;
  return (lo ^ Math.imul(hi ^ 0x85ebca6b, 0x9e3779b1) ^ 0x2545f491) >>> 0;
}

/** Writes the value of `index` (`bytes` long) into `target` at `offset`. */
export function writeCapacityValue(index: number, bytes: number, target: Uint8Array, offset: number): void {
  let state = seedOf(index);
  let i = 0;
  while (i < bytes) {
    // mulberry32: one 32-bit draw, 30 of its bits make 5 characters.
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    t = (t ^ (t >>> 14)) >>> 0;
    for (let c = 0; c < 5 && i < bytes; c += 1, i += 1) {
      target[offset + i] = ALPHABET_CODES[t & 63] as number;
      t >>>= 6;
    }
  }
}

/** The value of `index`, as text. */
export function capacityValue(index: number, bytes: number): string {
  const value = Buffer.allocUnsafe(bytes);
  writeCapacityValue(index, bytes, value, 0);
  return value.toString('latin1');
}

/** `MSET k v k v …\r\n` for the given indices, encoded once into one buffer. */
export function msetLine(indices: readonly number[], valueBytes: number): Buffer {
  const line = Buffer.allocUnsafe(msetLineBytes(indices.length, valueBytes));
  let at = MSET.copy(line, 0);
  for (const index of indices) {
    line[at++] = SPACE;
    at += line.write(capacityKey(index), at, 'latin1');
    line[at++] = SPACE;
    writeCapacityValue(index, valueBytes, line, at);
    at += valueBytes;
  }
  line[at] = CR;
  line[at + 1] = LF;
  return line;
}

/** The length of an MSET line of `pairs` pairs, CRLF included. */
export function msetLineBytes(pairs: number, valueBytes: number): number {
  return MSET.length + pairs * (1 + KEY_BYTES + 1 + valueBytes) + 2;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** A fixed permutation of 0..n-1: position j holds (j · stride + offset) mod n, stride coprime with n. */
export class FillOrder {
  readonly n: number;
  readonly #stride: number;
  readonly #offset: number;

  constructor(n: number, offset = 0) {
    if (!Number.isSafeInteger(n) || n <= 0) throw new RangeError(`FillOrder needs a positive integer, got ${n}`);
    this.n = n;
    // About n/φ, so neighbours in time are far apart in the key space; the first coprime above it.
    let stride = Math.max(1, Math.floor(n * 0.6180339887)) % n || 1;
    while (gcd(stride, n) !== 1) stride += 1;
    this.#stride = stride;
    this.#offset = ((offset % n) + n) % n;
  }

  /** The index written at position `j` (any j ≥ 0; it wraps around after n). */
  at(j: number): number {
    // j · stride can pass 2^53 for large n: multiply with BigInt-free modular arithmetic.
    return (mulMod(j % this.n, this.#stride, this.n) + this.#offset) % this.n;
  }
}

/** (a · b) mod m without losing precision for a, b < m ≤ 2^52. */
function mulMod(a: number, b: number, m: number): number {
  if (a * b <= Number.MAX_SAFE_INTEGER) return (a * b) % m;
  let result = 0;
  let x = a;
  let y = b;
  while (y > 0) {
    if (y % 2 === 1) result = (result + x) % m;
    x = (x * 2) % m;
    y = Math.floor(y / 2);
  }
  return result;
}

/** `count` indices in 0..n-1 drawn uniformly (with replacement) by a PRNG seeded with `seed`. */
export function sampleIndices(count: number, n: number, seed: number): number[] {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  // Two draws make a fraction fine enough for any n; rounding may reach 1, hence the min.
  return Array.from({ length: count }, () => Math.min(n - 1, Math.floor((next() + next() / 2 ** 32) * n)));
}
