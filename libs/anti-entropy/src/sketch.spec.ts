import fc from 'fast-check';
import { Reader, Writer } from '#mst';
import { estimateDifferences } from './reconcile.js';
import { cellsFor, itemHi, itemKeyFingerprint, itemLo, itemRange, Sketch } from './sketch.js';

const SEED = 0x5c37c4;
const itemArb = fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff }));
const key = ([hi, lo]: readonly [number, number]): string => `${hi}:${lo}`;

function sketchOf(items: readonly (readonly [number, number])[], cells: number): Sketch {
  const sketch = new Sketch(cells);
  for (const [hi, lo] of items) sketch.insert(hi, lo);
  return sketch;
}

describe('the sketch (IBLT)', () => {
  it('peels exactly the symmetric difference, or says it cannot; never a wrong item (properties)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(itemArb, { selector: key, maxLength: 300 }),
        fc.uniqueArray(itemArb, { selector: key, maxLength: 40 }),
        fc.uniqueArray(itemArb, { selector: key, maxLength: 40 }),
        fc.integer({ min: 1, max: 30 }),
        (shared, onlyMine, onlyTheirs, quarters) => {
          const mineSet = new Set(onlyMine.map(key));
          const theirs = onlyTheirs.filter((item) => !mineSet.has(key(item)));
          const cells = 4 * quarters;
          const difference = sketchOf([...shared, ...onlyMine], cells).differenceFrom(sketchOf([...shared, ...theirs], cells));
          if (difference === null) return;
          expect(difference.mine.map(key).sort()).toEqual(onlyMine.map(key).sort());
          expect(difference.theirs.map(key).sort()).toEqual(theirs.map(key).sort());
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('sized by cellsFor, peels the difference it was sized for (failures are rare and only cost a bigger sketch)', () => {
    let x = 0x1234567;
    const next = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return x >>> 0;
    };
    for (const k of [1, 2, 10, 100, 1000]) {
      let peeled = 0;
      const trials = k >= 100 ? 30 : 200;
      for (let t = 0; t < trials; t++) {
        const mine = new Sketch(cellsFor(k));
        const theirs = new Sketch(cellsFor(k));
        for (let i = 0; i < 200; i++) {
          const [hi, lo] = [next(), next()];
          mine.insert(hi, lo);
          theirs.insert(hi, lo);
        }
        for (let i = 0; i < k; i++) (i % 2 === 0 ? mine : theirs).insert(next(), next());
        const difference = mine.differenceFrom(theirs);
        if (difference !== null && difference.mine.length + difference.theirs.length === k) peeled++;
      }
      expect(peeled).toBeGreaterThanOrEqual(0.98 * trials);
    }
  });

  it('fails visibly when the difference is too large; a table not full tells about how large', () => {
    const mine = new Sketch(64);
    const theirs = new Sketch(64);
    for (let i = 0; i < 60; i++) theirs.insert(i * 7919, i * 104729);
    for (let i = 0; i < 60; i++) mine.insert(i * 15485863, i + 1);
    expect(mine.differenceFrom(theirs)).toBeNull();
    const roomy = new Sketch(256);
    for (let i = 0; i < 40; i++) roomy.insert(i * 7919, i * 104729);
    const estimate = new Sketch(256).estimateDifference(roomy)!;
    expect(estimate).toBeGreaterThan(25);
    expect(estimate).toBeLessThan(60);
    const full = new Sketch(4);
    for (let i = 0; i < 50; i++) full.insert(i, i);
    expect(new Sketch(4).estimateDifference(full)).toBeNull();
  });

  it('encodes and decodes to the same cells; a table from a peer is checked', () => {
    const sketch = sketchOf([[1, 2], [3, 4], [0xffff_ffff, 0]], 12);
    sketch.count[5] = -7;
    const w = new Writer(16);
    sketch.encode(w);
    const bytes = w.finish();
    const back = Sketch.decode(new Reader(bytes, 'sketch'));
    expect([back.count, back.hi, back.lo, back.check]).toEqual([sketch.count, sketch.hi, sketch.lo, sketch.check]);
    expect(() => Sketch.decode(new Reader(bytes.subarray(0, bytes.length - 1), 'sketch'))).toThrow(/truncated/);
    expect(() => Sketch.decode(new Reader(Uint8Array.from([6, ...new Uint8Array(6 * 13)]), 'sketch'))).toThrow(/a sketch of 6 cells/);
    expect(() => new Sketch(6)).toThrow(RangeError);
  });

  it('packs the range, the key fingerprint and the version fingerprint into one item', () => {
    const [hi, lo] = [itemHi(4095, 0xfabcdef), itemLo(0xfabcdef, 0x123456)];
    expect(itemRange(hi)).toBe(4095);
    expect(itemKeyFingerprint(hi, lo)).toBe(0xfabcdef);
    expect(lo & 0xffffff).toBe(0x123456);
  });
});

describe('the estimate of differences from the share of ranges that differ', () => {
  it('is nil for no differing range, at least the differing ranges, and grows without bound as the share nears one', () => {
    expect(estimateDifferences(100, 0)).toBe(0);
    expect(estimateDifferences(100, 1)).toBe(2);
    expect(estimateDifferences(100, 50)).toBe(100);
    expect(estimateDifferences(100, 100)).toBeGreaterThan(estimateDifferences(100, 99));
    expect(estimateDifferences(4, 4)).toBe(28);
  });

  it('lands near the truth for keys changed at random in geometric gaps, as in a tree', () => {
    let x = 99;
    const random = (): number => {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      return (x >>> 0) / 2 ** 32;
    };
    // 100k keys cut into gaps by keys that are boundaries with probability 1/256; 1% changed.
    let ranges = 1;
    let differing = 0;
    let current = false;
    let changed = 0;
    for (let i = 0; i < 100_000; i++) {
      if (random() < 1 / 256) {
        if (current) differing++;
        ranges++;
        current = false;
      }
      if (random() < 0.01) {
        changed++;
        current = true;
      }
    }
    if (current) differing++;
    const estimate = estimateDifferences(ranges, differing);
    expect(estimate).toBeGreaterThan(0.75 * changed);
    expect(estimate).toBeLessThan(1.33 * changed);
  });
});
