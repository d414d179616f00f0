/**
 * An invertible Bloom lookup table (Goodrich & Mitzenmacher; Eppstein et al., "What's the
 * difference?") of 64-bit items: each side inserts its items, the initiator subtracts its table
 * from the peer's and peels the difference, which yields every item one side holds and the other
 * does not, in O(cells), whatever the number of items inserted. A table of c cells decodes about
 * c / 1.3 differences (fewer for small tables, see cellsFor); past that it fails, visibly.
 *
 * An item is (range index 12 bits | key fingerprint 28 bits | version fingerprint 24 bits), see
 * itemHi/itemLo: both sides derive the same item from the same key and version, and the key part lets
 * the initiator pair "mine" and "theirs" of one key. The fingerprints are salted per session, so
 * a collision (which only hides a difference until the final root check) does not repeat.
 *
 * Cells: count (signed), XOR of items (two u32), XOR of a check hash of each item. Four
 * partitions, one cell per partition per item, so an item's cells are distinct.
 *
 *   wire = varint cells | cells x (zigzag varint count | u32 hi | u32 lo | u32 check)
 */
import { type Reader, type Writer } from '#mst';

const PARTITIONS = 4;
const SEED_1 = 0x8f1bbcdc;
const SEED_2 = 0x5a827999;
const CHECK_SEED = 0xca62c1d6;
/** Largest table accepted from a peer: 13 bytes a cell, well inside a reply. */
export const MAX_SKETCH_CELLS = 1 << 16;

/**
 * An item's cells, one in each partition of `part` cells: the four 16-bit halves of two mixes,
 * each scaled to its partition (at most 16,384 cells, see MAX_SKETCH_CELLS): two hashes for four
 * independent cells.
 */
const cell0 = (part: number, h1: number): number => ((h1 & 0xffff) * part) >>> 16;
const cell1 = (part: number, h1: number): number => part + (((h1 >>> 16) * part) >>> 16);
const cell2 = (part: number, h2: number): number => 2 * part + (((h2 & 0xffff) * part) >>> 16);
const cell3 = (part: number, h2: number): number => 3 * part + (((h2 >>> 16) * part) >>> 16);

/** A 32-bit mix of two words (murmur3's finalizer steps, with a seed). */
export function mix(a: number, b: number, seed: number): number {
  let h = Math.imul(a ^ seed, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ b, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x27d4eb2f);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * Cells that peel `expected` differences. Four cells an item: peeling stalls mostly when two
 * items share all their cells (about k^2/2 (4/c)^4), so small tables get a floor; measured
 * failure rates are 0.1-0.3% for 3 to 30 differences, nil for 1-2 and from a hundred on: a
 * failure costs one round trip (a bigger sketch), never a difference.
 */
export function cellsFor(expected: number): number {
  const k = Math.max(1, expected);
  const cells = Math.ceil(1.4 * k + 4 * Math.sqrt(k) + 24);
  return Math.min(MAX_SKETCH_CELLS, PARTITIONS * Math.ceil(cells / PARTITIONS));
}

/** What peeling found: the items only the subtracted side (mine) and only the other side (theirs) hold, as [hi, lo] pairs. */
export interface SketchDifference {
  readonly mine: [number, number][];
  readonly theirs: [number, number][];
}

export class Sketch {
  readonly count: Int32Array;
  readonly hi: Uint32Array;
  readonly lo: Uint32Array;
  readonly check: Uint32Array;
  readonly #part: number;

  constructor(readonly cells: number) {
    if (!Number.isInteger(cells) || cells < PARTITIONS || cells % PARTITIONS !== 0 || cells > MAX_SKETCH_CELLS) {
      throw new RangeError(`a sketch has a multiple of ${PARTITIONS} cells up to ${MAX_SKETCH_CELLS}, not ${cells}`);
    }
    this.#part = cells / PARTITIONS;
    this.count = new Int32Array(cells);
    this.hi = new Uint32Array(cells);
    this.lo = new Uint32Array(cells);
    this.check = new Uint32Array(cells);
  }

  insert(hi: number, lo: number): void {
    this.#toggle(hi, lo, 1);
  }

  // Runs for every entry a sketch reads: the four cells unrolled, no array or closure.
  #toggle(hi: number, lo: number, sign: number): void {
    const check = mix(hi, lo, CHECK_SEED);
    const h1 = mix(hi, lo, SEED_1);
    const h2 = mix(lo, hi, SEED_2);
    const part = this.#part;
    this.#put(cell0(part, h1), hi, lo, check, sign);
    this.#put(cell1(part, h1), hi, lo, check, sign);
    this.#put(cell2(part, h2), hi, lo, check, sign);
    this.#put(cell3(part, h2), hi, lo, check, sign);
  }

  #put(cell: number, hi: number, lo: number, check: number, sign: number): void {
    this.count[cell]! += sign;
    this.hi[cell]! ^= hi;
    this.lo[cell]! ^= lo;
    this.check[cell]! ^= check;
  }

  #cells(hi: number, lo: number): number[] {
    const h1 = mix(hi, lo, SEED_1);
    const h2 = mix(lo, hi, SEED_2);
    const part = this.#part;
    return [cell0(part, h1), cell1(part, h1), cell2(part, h2), cell3(part, h2)];
  }

  /**
   * Peels `theirs` minus this table (the same size). Returns null when the difference is too
   * large for the table (some cells stay entangled): ask for a bigger one.
   */
  differenceFrom(theirs: Sketch): SketchDifference | null {
    if (theirs.cells !== this.cells) throw new RangeError(`sketches of ${theirs.cells} and ${this.cells} cells`);
    const d = new Sketch(this.cells);
    for (let c = 0; c < this.cells; c++) {
      d.count[c] = theirs.count[c]! - this.count[c]!;
      d.hi[c] = theirs.hi[c]! ^ this.hi[c]!;
      d.lo[c] = theirs.lo[c]! ^ this.lo[c]!;
      d.check[c] = theirs.check[c]! ^ this.check[c]!;
    }
    const out: SketchDifference = { mine: [], theirs: [] };
    const pure = (c: number): boolean => (d.count[c] === 1 || d.count[c] === -1) && mix(d.hi[c]!, d.lo[c]!, CHECK_SEED) === d.check[c];
    const queue: number[] = [];
    for (let c = 0; c < this.cells; c++) if (pure(c)) queue.push(c);
    // Every extraction empties at least one cell, so this ends; the bound guards against a cycle
    // of false "pure" cells in a hostile table.
    for (let steps = 0; queue.length > 0 && steps < 4 * this.cells; steps++) {
      const c = queue.pop()!;
      if (!pure(c)) continue;
      const hi = d.hi[c]!;
      const lo = d.lo[c]!;
      const sign = d.count[c]!;
      (sign === 1 ? out.theirs : out.mine).push([hi, lo]);
      d.#toggle(hi, lo, -sign);
      for (const cell of d.#cells(hi, lo)) if (pure(cell)) queue.push(cell);
    }
    for (let c = 0; c < this.cells; c++) if (d.count[c] !== 0 || d.hi[c] !== 0 || d.lo[c] !== 0 || d.check[c] !== 0) return null;
    return out;
  }

  /**
   * About how many items `theirs` minus this table holds, from its share of non-empty cells
   * (each item takes one cell in each partition of c / 4 cells); null when every cell is taken
   * (then only "more than the cells" can be said).
   */
  estimateDifference(theirs: Sketch): number | null {
    let empty = 0;
    for (let c = 0; c < this.cells; c++) {
      if (theirs.count[c] === this.count[c] && theirs.hi[c] === this.hi[c] && theirs.lo[c] === this.lo[c] && theirs.check[c] === this.check[c]) empty++;
    }
    return empty === 0 ? null : Math.ceil(-this.#part * Math.log(empty / this.cells));
  }

  encode(w: Writer): void {
    w.varint(this.cells);
    for (let c = 0; c < this.cells; c++) {
      const n = this.count[c]!;
      w.varint(n >= 0 ? 2 * n : -2 * n - 1);
      w.u32(this.hi[c]!);
      w.u32(this.lo[c]!);
      w.u32(this.check[c]!);
    }
  }

  static decode(r: Reader): Sketch {
    const cells = r.varint(Math.min(MAX_SKETCH_CELLS, Math.floor(r.remaining / 13)), 'sketch cells');
    if (cells % PARTITIONS !== 0 || cells === 0) r.fail(`a sketch of ${cells} cells`);
    const s = new Sketch(cells);
    for (let c = 0; c < cells; c++) {
      const z = r.varint(0xffff_ffff, 'cell count');
      s.count[c] = z % 2 === 0 ? z / 2 : -(z + 1) / 2;
      s.hi[c] = r.u32();
      s.lo[c] = r.u32();
      s.check[c] = r.u32();
    }
    return s;
  }
}

/** Most ranges one sketch covers: the range index is 12 bits of the item. */
export const MAX_SKETCH_RANGES = 1 << 12;
/** Key fingerprints have 28 bits. */
export const MAX_KEY_FINGERPRINT = (1 << 28) - 1;

/** The salted 28-bit fingerprint of a key (FNV-1a over its bytes, then mixed). */
export function keyFingerprint(data: Uint8Array, from: number, to: number, salt: number): number {
  let h = 0x811c9dc5 ^ salt;
  for (let i = from; i < to; i++) h = Math.imul(h ^ data[i]!, 0x01000193);
  return mix(h, to - from, salt) & MAX_KEY_FINGERPRINT;
}

/** The salted 24-bit fingerprint of a version digest (already a uniform hash: 16 of its bytes are mixed). */
export function versionFingerprint(data: Uint8Array, at: number, salt: number): number {
  const word = (p: number): number => (data[p]! << 24) | (data[p + 1]! << 16) | (data[p + 2]! << 8) | data[p + 3]!;
  return mix(mix(word(at), word(at + 4), salt), word(at + 8) ^ word(at + 12), ~salt) & 0xffffff;
}

/**
 * The item of one entry, as two words (no pair allocated: this runs for every key scanned): range
 * index and key fingerprint... The words are signed 32-bit integers here, where unsigned ones
 * above 2^31 would be boxed numbers at every call not inlined (a quarter of a shard's keys, on
 * both sides); a sketch stores them unsigned, and reads them back so.
 */
export const itemHi = (range: number, keyFp: number): number => (range << 20) | (keyFp >>> 8);
/** ...and the rest of the key fingerprint and the version fingerprint. */
export const itemLo = (keyFp: number, versionFp: number): number => ((keyFp & 0xff) << 24) | versionFp;

/** The range index and key fingerprint of an item: what identifies its key. */
export const itemRange = (hi: number): number => hi >>> 20;
export const itemKeyFingerprint = (hi: number, lo: number): number => (((hi & 0xfffff) << 8) | (lo >>> 24)) >>> 0;
