/**
 * The pieces both sides of a version-2 session compute the same way: the ranges a sketch op
 * names, which of them differ, the estimate of the differences they hold, and the sketch of
 * their entries. Everything reads a frozen tree (a snapshot) and streams its entries: memory is
 * the sketch and the op, never the shard.
 */
import { type MerkleSearchTree, rangeFingerprint, scanRange } from '#mst';
import { type Span } from './codec.js';
import { cellsFor, itemHi, itemLo, keyFingerprint, MAX_SKETCH_CELLS, Sketch, versionFingerprint } from './sketch.js';

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

/** The sketch of the entries of the differing ranges, and how many went in. */
export function sketchRanges(tree: MerkleSearchTree, ranges: readonly KeyRange[], differs: readonly boolean[], cells: number, salt: number): { sketch: Sketch; items: number } {
  const sketch = new Sketch(cells);
  let items = 0;
  ranges.forEach((range, index) => {
    if (!differs[index]) return;
    scanRange(tree, range.lo, range.hi, (data, keyFrom, keyTo, digestAt) => {
      const keyFp = keyFingerprint(data, keyFrom, keyTo, salt);
      sketch.insert(itemHi(index, keyFp), itemLo(keyFp, versionFingerprint(data, digestAt, salt)));
      items++;
    });
  });
  return { sketch, items };
}

/** The keys in `range` whose fingerprints are in `wanted`, as UTF-8 text with their fingerprints, in key order. */
export function keysWithFingerprints(tree: MerkleSearchTree, range: KeyRange, wanted: ReadonlySet<number>, salt: number): [key: string, keyFp: number][] {
  const out: [string, number][] = [];
  scanRange(tree, range.lo, range.hi, (data, keyFrom, keyTo) => {
    const fp = keyFingerprint(data, keyFrom, keyTo, salt);
    if (wanted.has(fp)) out.push([Buffer.from(data.buffer, data.byteOffset + keyFrom, keyTo - keyFrom).toString('utf8'), fp]);
  });
  return out;
}
