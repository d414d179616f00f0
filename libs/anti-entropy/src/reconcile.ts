/**
 * The pieces both sides of a version-2 session compute the same way: the ranges a sketch op
 * names, which of them differ, the estimate of the differences they hold, and the sketch of
 * their entries. Everything reads a frozen tree (a snapshot) and streams its entries: memory is
 * the sketch and the op, never the shard.
 */
import { type EntryVisitor, type MerkleSearchTree, pieceFingerprints, rangeFingerprint, scanPieces, scanRange } from '#mst';
import { type Pieces, type Span } from './codec.js';
import { cellsFor, itemHi, itemLo, keyFingerprint, MAX_SKETCH_CELLS, mix, Sketch, versionFingerprint } from './sketch.js';

/** A half-open key range [lo, hi); null bounds are unbounded. */
export interface KeyRange {
  readonly lo: Uint8Array | null;
  readonly hi: Uint8Array | null;
}

/** The ranges of a sketch op's spans, in order: the range index of an item is a position here. */
export function rangesOf(spans: readonly Span[]): KeyRange[] {
  const out: KeyRange[] = [];
  for (const span of spans) {
    let lo = span.lo;
    for (const cut of span.cuts) {
      out.push({ lo, hi: cut });
      lo = cut;
    }
    out.push({ lo, hi: span.hi });
  }
  return out;
}

/** Which ranges hold something else here than the fingerprints say. */
export function differingRanges(tree: MerkleSearchTree, ranges: readonly KeyRange[], fingerprints: readonly Uint8Array[], salt: number): boolean[] {
  return ranges.map((range, i) => !Buffer.from(rangeFingerprint(tree, range.lo, range.hi, salt)).equals(fingerprints[i]!));
}

/**
 * The expected number of differing keys in the differing ranges, from the share p of ranges that
 * differ. The ranges are gaps between the keys of one layer, and a key is on a layer or above
 * independently of the others, so their sizes are geometric; with differing keys scattered at
 * random, a range is then equal with probability 1 / (1 + λ) for λ differences a range on
 * average (not e^-λ: small ranges are often equal, large ones almost never), so λ = p / (1 - p).
 * When every range differs the share says only "many": p is taken as (m - 1/2) / m, and a sketch
 * that then fails to peel is asked again, sized from what it shows.
 */
export function estimateDifferences(ranges: number, differing: number): number {
  if (differing === 0) return 0;
  const p = Math.min(differing, ranges - 0.5) / ranges;
  return Math.max(differing, Math.ceil(ranges * (p / (1 - p))));
}

/** Cells for a sketch of `estimate` differences, bounded by what a reply may carry (13 bytes a cell). */
export function sketchCells(estimate: number, maxBytes: number): number {
  const cap = Math.max(4, 4 * Math.floor(Math.min(MAX_SKETCH_CELLS, maxBytes / 13) / 4));
  return Math.min(cap, cellsFor(estimate));
}

/**
 * What a sketch reads of each range: nothing (false: equal), all of it (true), or the pieces
 * whose flag is set, the range cut by this tree's keys on `layer` or above (see Pieces).
 */
export interface ScanPlan {
  readonly layer: number;
  readonly ranges: readonly (boolean | readonly boolean[])[];
}

/** A plan that reads every differing range whole. */
export const wholeRanges = (differs: readonly boolean[]): ScanPlan => ({ layer: 0, ranges: differs });

/**
 * Which pieces of the differing ranges differ, from the sender's piece fingerprints and ours;
 * null for a range we cut into another number of pieces (a key on those layers is held on one
 * side only), or where no piece shows the difference the range's fingerprint shows (a 32-bit
 * collision): all of such a range is sketched.
 */
export function differingPieces(tree: MerkleSearchTree, ranges: readonly KeyRange[], differs: readonly boolean[], pieces: Pieces, salt: number): (boolean[] | null)[] {
  const out: (boolean[] | null)[] = [];
  ranges.forEach((range, i) => {
    if (!differs[i]) return;
    const theirs = pieces.fingerprints[i]!;
    const ours = pieceFingerprints(tree, pieces.layer, range.lo, range.hi, salt);
    let bits: boolean[] | null = null;
    if (ours.length === theirs.length) {
      bits = new Array<boolean>(ours.length);
      for (let j = 0; j < ours.length; j++) bits[j] = ours[j] !== theirs[j];
    }
    out.push(bits !== null && bits.includes(true) ? bits : null);
  });
  return out;
}

/** Keys the differing pieces must hold before a refine answer pays for its round trip (~0.1 s of reading them from storage). */
const REFINE_MIN_KEYS = 1 << 16;

/**
 * Whether the responder answers a sketch op with pieces by cutting its differing pieces again
 * a layer lower (v4, a 'refine' answer) rather than by a sketch: when most of the pieces
 * compared differ, a sketch reads most of their keys on both sides, where the pieces a layer
 * lower that differ hold about a sixteenth as many (a piece holding a few differences is ~16
 * sub-pieces, most of them equal), for a round trip and 4 bytes a sub-piece. Only with a
 * layer below to cut on, and enough keys at stake (REFINE_MIN_KEYS).
 */
export function refinePays(plan: ScanPlan, pieces: Pieces, fanout: number): boolean {
  if (pieces.layer < 2) return false;
  let compared = 0;
  let differing = 0;
  plan.ranges.forEach((scan, i) => {
    if (scan === false) return;
    const count = pieces.fingerprints[i]!.length;
    compared += count;
    differing += scan === true ? count : scan.filter(Boolean).length;
  });
  return 2 * differing > compared && differing * fanout ** pieces.layer >= REFINE_MIN_KEYS;
}

/** The plan both sides sketch by: the differing ranges, and of those cut into pieces, the differing pieces. */
export function scanPlan(differs: readonly boolean[], layer: number, pieces: readonly (readonly boolean[] | null)[]): ScanPlan {
  let next = 0;
  return { layer, ranges: differs.map((d) => (d ? (pieces[next++] ?? true) : false)) };
}

/**
 * The expected number of differing keys, from a plan with pieces: the share of differing pieces
 * estimates the differences of the ranges cut alike on both sides (their sizes are geometric
 * too, see estimateDifferences); a range cut otherwise holds a key on those layers that one side
 * lacks, and as many more as its pieces would at that rate.
 */
export function estimateFromPieces(plan: ScanPlan, pieces: Pieces): number {
  let compared = 0;
  let differing = 0;
  plan.ranges.forEach((scan, i) => {
    if (scan === true) return;
    compared += pieces.fingerprints[i]!.length;
    if (scan !== false) differing += scan.filter(Boolean).length;
  });
  const aligned = estimateDifferences(compared, differing);
  const perPiece = compared === 0 ? 1 : aligned / compared;
  let other = 0;
  plan.ranges.forEach((scan, i) => {
    if (scan === true) other += 1 + perPiece * pieces.fingerprints[i]!.length;
  });
  return aligned + Math.ceil(other);
}

/**
 * The entries a sketch covered, kept so that the initiator names the keys it peels without
 * reading the ranges again: views into the snapshot's nodes (which never change), up to `limit`
 * entries; past that `complete` is false and the keys are found by a second scan.
 */
export class ScannedEntries {
  #hi: Uint32Array = new Uint32Array(1024);
  #lo: Uint32Array = new Uint32Array(1024);
  #at: Uint32Array = new Uint32Array(1024);
  #to: Uint32Array = new Uint32Array(1024);
  /** Which of #data holds each entry: the entries of one node share it (~16 a node). */
  #of: Uint32Array = new Uint32Array(1024);
  #data: Uint8Array[] = [];
  #count = 0;
  complete = true;

  constructor(readonly limit: number) {}

  add(hi: number, lo: number, data: Uint8Array, keyFrom: number, keyTo: number): void {
    if (this.#count === this.limit) {
      this.complete = false;
      return;
    }
    if (this.#count === this.#hi.length) {
      const grow = (a: Uint32Array): Uint32Array => {
        const b = new Uint32Array(a.length * 2);
        b.set(a);
        return b;
      };
      this.#hi = grow(this.#hi);
      this.#lo = grow(this.#lo);
      this.#at = grow(this.#at);
      this.#to = grow(this.#to);
      this.#of = grow(this.#of);
    }
    if (this.#data[this.#data.length - 1] !== data) this.#data.push(data);
    const i = this.#count++;
    this.#hi[i] = hi;
    this.#lo[i] = lo;
    this.#at[i] = keyFrom;
    this.#to[i] = keyTo;
    this.#of[i] = this.#data.length - 1;
  }

  /** The keys of these items (as inserted), as UTF-8 text, each with its item's hi word. */
  keysOf(items: readonly [hi: number, lo: number][]): [key: string, hi: number, lo: number][] {
    const wanted = new ItemSet(items);
    const out: [string, number, number][] = [];
    for (let i = 0; i < this.#count; i++) {
      if (!wanted.has(this.#hi[i]!, this.#lo[i]!)) continue;
      const data = this.#data[this.#of[i]!]!;
      out.push([Buffer.from(data.buffer, data.byteOffset + this.#at[i]!, this.#to[i]! - this.#at[i]!).toString('utf8'), this.#hi[i]!, this.#lo[i]!]);
    }
    return out;
  }
}

/**
 * A set of items, open-addressed in typed arrays: ScannedEntries asks it once for every entry a
 * sketch read (a quarter of a shard), where a Map of boxed 32-bit words cost more than the scan.
 */
class ItemSet {
  readonly #hi: Uint32Array;
  readonly #lo: Uint32Array;
  readonly #used: Uint8Array;
  readonly #mask: number;

  constructor(items: readonly [hi: number, lo: number][]) {
    let size = 16;
    while (size < 2 * items.length) size *= 2;
    this.#mask = size - 1;
    this.#hi = new Uint32Array(size);
    this.#lo = new Uint32Array(size);
    this.#used = new Uint8Array(size);
    for (const [hi, lo] of items) {
      let slot = this.#slot(hi, lo);
      while (this.#used[slot] === 1 && !(this.#hi[slot] === hi && this.#lo[slot] === lo)) slot = (slot + 1) & this.#mask;
      this.#used[slot] = 1;
      this.#hi[slot] = hi;
      this.#lo[slot] = lo;
    }
  }

  has(hi: number, lo: number): boolean {
    for (let slot = this.#slot(hi, lo); this.#used[slot] === 1; slot = (slot + 1) & this.#mask) {
      if (this.#hi[slot] === hi && this.#lo[slot] === lo) return true;
    }
    return false;
  }

  #slot(hi: number, lo: number): number {
    return mix(hi, lo, 0) & this.#mask;
  }
}

/** The sketch of the entries the plan reads, and how many went in (kept in `keep` when given). */
export function sketchRanges(tree: MerkleSearchTree, ranges: readonly KeyRange[], plan: ScanPlan, cells: number, salt: number, keep?: ScannedEntries): { sketch: Sketch; items: number } {
  const sketch = new Sketch(cells);
  let items = 0;
  ranges.forEach((range, index) => {
    const scan = plan.ranges[index];
    if (scan === false || scan === undefined) return;
    const visit = (data: Uint8Array, keyFrom: number, keyTo: number, digestAt: number): void => {
      const keyFp = keyFingerprint(data, keyFrom, keyTo, salt);
      const hi = itemHi(index, keyFp);
      const lo = itemLo(keyFp, versionFingerprint(data, digestAt, salt));
      sketch.insert(hi, lo);
      keep?.add(hi, lo, data, keyFrom, keyTo);
      items++;
    };
    if (scan === true) scanRange(tree, range.lo, range.hi, visit);
    else scanPieces(tree, plan.layer, range.lo, range.hi, scan, visit);
  });
  return { sketch, items };
}

/**
 * The keys in `range` whose fingerprints are in `wanted`, as UTF-8 text with their fingerprints,
 * in key order; with `scan`, only in the range's pieces a sketch plan read (see ScanPlan).
 */
export function keysWithFingerprints(
  tree: MerkleSearchTree,
  range: KeyRange,
  wanted: ReadonlySet<number>,
  salt: number,
  scan?: { readonly layer: number; readonly pieces: readonly boolean[] },
): [key: string, keyFp: number][] {
  const out: [string, number][] = [];
  const visit: EntryVisitor = (data, keyFrom, keyTo) => {
    const fp = keyFingerprint(data, keyFrom, keyTo, salt);
    if (wanted.has(fp)) out.push([Buffer.from(data.buffer, data.byteOffset + keyFrom, keyTo - keyFrom).toString('utf8'), fp]);
  };
  if (scan === undefined) scanRange(tree, range.lo, range.hi, visit);
  else scanPieces(tree, scan.layer, range.lo, range.hi, scan.pieces, visit);
  return out;
}
