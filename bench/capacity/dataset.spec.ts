import { capacityKey, capacityValue, FillOrder, KEY_BYTES, msetLine, msetLineBytes, sampleIndices } from './dataset.js';

describe('capacityKey and capacityValue', () => {
  it('are fixed functions of the index', () => {
    expect(capacityKey(42)).toBe('k0000000042');
    expect(capacityKey(42)).toHaveLength(KEY_BYTES);
    expect(capacityValue(42, 100)).toBe(capacityValue(42, 100));
    // Pinned, so that a change of the generator is a deliberate one.
    expect(capacityValue(0, 16)).toBe('xNnLLfz3edr-l4mV');
    expect(capacityValue(123456789, 16)).toBe('AaPiLvH54YjcgsUV');
  });

  it('are printable, space-free, of the asked length, and differ between indices', () => {
    const seen = new Set<string>();
    for (const index of [0, 1, 2, 3, 1000, 2 ** 31, 2 ** 32, 2 ** 32 + 1, 9_999_999_999]) {
      for (const bytes of [1, 5, 6, 100, 1001]) {
        const value = capacityValue(index, bytes);
        expect(value).toHaveLength(bytes);
        expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
      }
      seen.add(capacityValue(index, 100));
    }
    expect(seen.size).toBe(9);
  });

  it('values use the whole alphabet', () => {
    const chars = new Set(Array.from({ length: 50 }, (_, i) => capacityValue(i, 100)).join(''));
    expect(chars.size).toBe(64);
  });
});

describe('msetLine', () => {
  it('is MSET then key value pairs, CRLF-terminated, of the announced length', () => {
    const line = msetLine([7, 3], 10);
    expect(line).toHaveLength(msetLineBytes(2, 10));
    expect(line.toString('latin1')).toBe(`MSET ${capacityKey(7)} ${capacityValue(7, 10)} ${capacityKey(3)} ${capacityValue(3, 10)}\r\n`);
  });
});

describe('FillOrder', () => {
  it.each([1, 2, 3, 10, 97, 100, 1000, 65_536, 200_000])('visits every index of 0..%i once per cycle', (n) => {
    const order = new FillOrder(n, 5);
    const seen = new Uint8Array(n);
    for (let j = 0; j < n; j += 1) seen[order.at(j)] = (seen[order.at(j)] ?? 0) + 1;
    expect(seen.every((count) => count === 1)).toBe(true);
    expect(order.at(n + 3)).toBe(order.at(3));
  });

  it('scatters consecutive positions and stays exact for huge key spaces', () => {
    const order = new FillOrder(1_000_000);
    expect(Math.abs(order.at(1) - order.at(0))).toBeGreaterThan(100_000);
    const big = new FillOrder(2 ** 52 - 1);
    const value = big.at(2 ** 52 - 2);
    expect(Number.isSafeInteger(value)).toBe(true);
    expect(value).toBeLessThan(2 ** 52 - 1);
  });
});

describe('sampleIndices', () => {
  it('is reproducible, in range and spread', () => {
    const a = sampleIndices(10_000, 1000, 7);
    expect(a).toEqual(sampleIndices(10_000, 1000, 7));
    expect(a.every((i) => Number.isInteger(i) && i >= 0 && i < 1000)).toBe(true);
    expect(new Set(a).size).toBeGreaterThan(990);
    expect(sampleIndices(5, 1, 1)).toEqual([0, 0, 0, 0, 0]);
  });
});
