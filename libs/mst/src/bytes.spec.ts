import { compareBytes, copyBytes, equalBytes, fromHex, toHex } from './bytes.js';

describe('bytes', () => {
  it('hex round-trips and rejects non-hex', () => {
    const b = new Uint8Array([0, 1, 0xab, 0xff]);
    expect(toHex(b)).toBe('0001abff');
    expect(fromHex('0001ABff')).toEqual(b);
    expect(() => fromHex('abc')).toThrow(TypeError);
    expect(() => fromHex('zz')).toThrow(TypeError);
  });

  it('compares as unsigned bytes, a prefix first', () => {
    const u = (...x: number[]): Uint8Array => new Uint8Array(x);
    expect(compareBytes(u(1), u(1, 0))).toBeLessThan(0);
    expect(compareBytes(u(0x80), u(0x7f))).toBeGreaterThan(0);
    expect(compareBytes(u(), u())).toBe(0);
    expect(equalBytes(u(1, 2), u(1, 2))).toBe(true);
    expect(equalBytes(u(1, 2), u(1))).toBe(false);
  });

  it('copies short and long runs', () => {
    for (const len of [0, 1, 64, 65, 300]) {
      const src = Uint8Array.from({ length: len + 10 }, (_, i) => i & 0xff);
      const dst = new Uint8Array(len + 20);
      copyBytes(src, 5, 5 + len, dst, 7);
      expect(dst.subarray(7, 7 + len)).toEqual(src.subarray(5, 5 + len));
    }
  });
});
