import fc from 'fast-check';
import { compareBytes } from './bytes.js';
import { keyLayer } from './layer.js';
import { keysFromLayer, pieceFingerprints, rangeFingerprint, scanPieces, scanRange, topKeys } from './ranges.js';
import { entriesArb, fanoutArb, keyArb, mapPairArb, SEED } from './testing/arbitraries.js';
import { hex } from './testing/model.js';
import { MerkleSearchTree } from './tree.js';

const inRange = (key: Uint8Array, lo: Uint8Array | null, hi: Uint8Array | null): boolean =>
  (lo === null || compareBytes(key, lo) >= 0) && (hi === null || compareBytes(key, hi) < 0);

const boundArb = fc.option(keyArb, { nil: null });

describe('key ranges of a tree', () => {
  it('fingerprints agree exactly where the entries of [lo, hi) agree, whatever the trees around them (properties)', () => {
    fc.assert(
      fc.property(mapPairArb, fanoutArb, boundArb, boundArb, fc.nat(), ([a, b], fanout, lo, hi, salt) => {
        const ta = MerkleSearchTree.fromEntries(a, { fanout });
        const tb = MerkleSearchTree.fromEntries(b, { fanout });
        const slice = (entries: [Uint8Array, Uint8Array][]): string =>
          entries
            .filter(([k]) => inRange(k, lo, hi))
            .map(([k, d]) => `${hex(k)}=${hex(d)}`)
            .sort()
            .join(',');
        const same = slice(a) === slice(b);
        expect(hex(rangeFingerprint(ta, lo, hi, salt)) === hex(rangeFingerprint(tb, lo, hi, salt))).toBe(same);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('a salt changes every fingerprint', () => {
    const tree = MerkleSearchTree.fromEntries([[Buffer.from('k'), new Uint8Array(32).fill(1)]]);
    expect(hex(rangeFingerprint(tree, null, null, 1))).not.toBe(hex(rangeFingerprint(tree, null, null, 2)));
  });

  it('scans exactly the entries of [lo, hi), in order, and cuts a range at the keys of a layer (properties)', () => {
    fc.assert(
      fc.property(entriesArb(300), fanoutArb, boundArb, boundArb, fc.integer({ min: 0, max: 2 }), (entries, fanout, lo, hi, layer) => {
        const tree = MerkleSearchTree.fromEntries(entries, { fanout });
        const scanned: string[] = [];
        scanRange(tree, lo, hi, (data, from, to, at) => scanned.push(`${hex(data.subarray(from, to))}=${hex(data.subarray(at, at + 32))}`));
        const expected = [...tree.entries()].filter((e) => inRange(e.key, lo, hi)).map((e) => `${hex(e.key)}=${hex(e.digest)}`);
        expect(scanned).toEqual(expected);
        const open = (k: Uint8Array): boolean => (lo === null || compareBytes(k, lo) > 0) && (hi === null || compareBytes(k, hi) < 0);
        const cuts = [...tree.entries()].filter((e) => open(e.key) && keyLayer(e.key, fanout) >= layer).map((e) => hex(e.key));
        expect(keysFromLayer(tree, layer, lo, hi).map(hex)).toEqual(cuts);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('cuts [lo, hi) into pieces at the keys of a layer, whose fingerprints agree where their entries do, and scans only the pieces asked (properties)', () => {
    fc.assert(
      fc.property(mapPairArb, fanoutArb, boundArb, boundArb, fc.integer({ min: 1, max: 2 }), fc.nat(), fc.array(fc.boolean()), ([a, b], fanout, lo, hi, layer, salt, include) => {
        const ta = MerkleSearchTree.fromEntries(a, { fanout });
        const tb = MerkleSearchTree.fromEntries(b, { fanout });
        const cutsA = keysFromLayer(ta, layer, lo, hi);
        const fa = pieceFingerprints(ta, layer, lo, hi, salt);
        const fb = pieceFingerprints(tb, layer, lo, hi, salt);
        expect(fa.length).toBe(cutsA.length + 1);
        const edges = [lo, ...cutsA, hi];
        const piece = (entries: [Uint8Array, Uint8Array][], j: number): string =>
          entries
            .filter(([k]) => inRange(k, edges[j]!, edges[j + 1]!) && inRange(k, lo, hi))
            .map(([k, d]) => `${hex(k)}=${hex(d)}`)
            .sort()
            .join(',');
        // Where both trees cut alike, a piece's fingerprints agree exactly where its entries do.
        if (keysFromLayer(tb, layer, lo, hi).map(hex).join() === cutsA.map(hex).join()) {
          fa.forEach((fp, j) => expect(fp === fb[j]).toBe(piece(a, j) === piece(b, j)));
        }
        const scanned: string[] = [];
        scanPieces(ta, layer, lo, hi, include, (data, from, to, at) => scanned.push(`${hex(data.subarray(from, to))}=${hex(data.subarray(at, at + 32))}`));
        const expected = [...ta.entries()]
          .filter((e) => inRange(e.key, lo, hi) && include[edges.slice(1).findIndex((_, j) => inRange(e.key, edges[j]!, edges[j + 1]!))] === true)
          .map((e) => `${hex(e.key)}=${hex(e.digest)}`);
        expect(scanned).toEqual(expected);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('the top keys are the root layer keys', () => {
    expect(topKeys(new MerkleSearchTree())).toBeNull();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 500 }, (_, i) => [Buffer.from(`k${i}`), new Uint8Array(32)] as [Uint8Array, Uint8Array]));
    const top = topKeys(tree)!;
    expect(top.layer).toBe(tree.layers() - 1);
    expect(top.keys.map(hex)).toEqual(keysFromLayer(tree, top.layer, null, null).map(hex));
  });
});
