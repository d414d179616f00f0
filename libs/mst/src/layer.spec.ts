import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MstError } from './errors.js';
import { DEFAULT_FANOUT, fanoutBits, jsSha256, keyLayer, layerOfHash, leadingZeroBits, sha256 } from './layer.js';

// The atproto interop vectors (CC0), copied in so the tests need nothing outside the repository.
const VECTORS = fileURLToPath(new URL('./testing/vectors', import.meta.url));
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('SHA-256 in JavaScript', () => {
  it('matches node:crypto for every length around the block boundaries', () => {
    for (let len = 0; len <= 300; len++) {
      for (let rep = 0; rep < 3; rep++) {
        const msg = new Uint8Array(randomBytes(len));
        expect(Buffer.from(jsSha256(msg)).toString('hex')).toBe(createHash('sha256').update(msg).digest('hex'));
      }
    }
  });

  it('matches the FIPS 180-4 test vector', () => {
    expect(Buffer.from(jsSha256(utf8('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(Buffer.from(sha256(utf8('abc'))).toString('hex')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});

describe('key layers (atproto CC0 vectors)', () => {
  const heights = JSON.parse(readFileSync(`${VECTORS}/key_heights.json`, 'utf8')) as { key: string; height: number }[];
  // example_keys.txt names its own height: the digit after the letter ("C3/564755" is on height 3).
  const examples = readFileSync(`${VECTORS}/example_keys.txt`, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((key) => ({ key, height: Number(key[1]) }));

  it.each([...heights, ...examples].map((v) => [v.key, v.height] as const))('%j is on height %i at fanout 4', (key, height) => {
    expect(keyLayer(utf8(key), 4)).toBe(height);
    expect(layerOfHash(sha256(utf8(key)), 4)).toBe(height);
  });

  it('fanout 16 puts a key on floor(height / 2), fanout 256 on floor(height / 4)', () => {
    for (const { key, height } of [...heights, ...examples]) {
      expect(keyLayer(utf8(key), 16)).toBe(Math.floor(height / 2));
      expect(keyLayer(utf8(key))).toBe(Math.floor(height / 2));
      expect(keyLayer(utf8(key), 256)).toBe(Math.floor(height / 4));
    }
    expect(DEFAULT_FANOUT).toBe(16);
  });

  it('long keys (native path) agree with the definition', () => {
    for (let i = 0; i < 2000; i++) {
      const key = new Uint8Array(randomBytes(150 + (i % 100)));
      expect(keyLayer(key, 4)).toBe(Math.floor(leadingZeroBits(sha256(key)) / 2));
    }
  });
});

describe('fanout', () => {
  it('accepts powers of two from 4 to 256', () => {
    expect([4, 8, 16, 32, 64, 128, 256].map(fanoutBits)).toEqual([2, 3, 4, 5, 6, 7, 8]);
  });

  it.each([0, 1, 2, 3, 12, 17, 512, 16.5, NaN])('rejects %p', (f) => {
    expect(() => fanoutBits(f)).toThrow(MstError);
  });

  it('counts leading zero bits across bytes', () => {
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x10]))).toBe(19);
    expect(leadingZeroBits(new Uint8Array(4))).toBe(32);
    expect(leadingZeroBits(new Uint8Array([0x80]))).toBe(0);
  });
});
