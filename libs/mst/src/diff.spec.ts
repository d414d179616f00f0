import fc from 'fast-check';
import { diff, diffEntries } from './diff.js';
import { asHex, expectedDiff, fanoutArb, mapPairArb, SEED } from './testing/arbitraries.js';
import { digestOf, hex } from './testing/model.js';
import { MerkleSearchTree } from './tree.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('local diff', () => {
  it('finds exactly the symmetric difference and the changed digests (properties)', () => {
    fc.assert(
      fc.property(mapPairArb, fanoutArb, ([left, right], fanout) => {
        const a = MerkleSearchTree.fromEntries(left, { fanout });
        const b = MerkleSearchTree.fromEntries(right, { fanout });
        expect(asHex(diff(a, b))).toEqual(expectedDiff(left, right));
        const swapped = diff(b, a);
        expect(asHex(swapped)).toEqual(expectedDiff(right, left));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('reports both digests of a changed key, in key order', () => {
    const a = MerkleSearchTree.fromEntries([
      [utf8('a'), digestOf('1')],
      [utf8('b'), digestOf('2')],
      [utf8('c'), digestOf('3')],
    ]);
    const b = MerkleSearchTree.fromEntries([
      [utf8('b'), digestOf('x')],
      [utf8('c'), digestOf('3')],
      [utf8('d'), digestOf('4')],
    ]);
    expect([...diffEntries(a, b)].map((e) => [Buffer.from(e.key).toString(), e.local && hex(e.local), e.remote && hex(e.remote)])).toEqual([
      ['a', hex(digestOf('1')), undefined],
      ['b', hex(digestOf('2')), hex(digestOf('x'))],
      ['d', undefined, hex(digestOf('4'))],
    ]);
  });

  it('a snapshot and its writer differ by exactly the writes since', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => utf8(`k${i}`));
    const a = MerkleSearchTree.fromEntries(keys.map((k) => [k, digestOf('0')] as const));
    const b = a.snapshot();
    b.upsert(utf8('k17'), digestOf('1'));
    b.remove(utf8('k2000'));
    b.upsert(utf8('new'), digestOf('2'));
    expect(asHex(diff(a, b))).toEqual({ localOnly: [hex(utf8('k2000'))], remoteOnly: [hex(utf8('new'))], different: [hex(utf8('k17'))] });
    expect(asHex(diff(a, a))).toEqual({ localOnly: [], remoteOnly: [], different: [] });
  });

  it('is lazy and unaffected by writes during the iteration', () => {
    const a = MerkleSearchTree.fromEntries(Array.from({ length: 500 }, (_, i) => [utf8(`k${i}`), digestOf('a')] as const));
    const b = new MerkleSearchTree();
    let n = 0;
    for (const e of diffEntries(a, b)) {
      expect(e.remote).toBeUndefined();
      a.remove(e.key);
      b.upsert(e.key, e.local!);
      n++;
    }
    expect(n).toBe(500);
    expect(hex(b.root())).toBe(hex(MerkleSearchTree.fromEntries(Array.from({ length: 500 }, (_, i) => [utf8(`k${i}`), digestOf('a')] as const)).root()));
  });
});
