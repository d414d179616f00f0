import { createHash } from 'node:crypto';

import fc from 'fast-check';

import { EMPTY_REFERENCE_ROOT, ReferenceMerkleBuilder, referenceLeafHash, referenceMerkleRoot } from './reference-hash.js';

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const pairs = (entries: readonly (readonly [string, string])[]): [Buffer, Buffer][] =>
  entries.map(([key, value]) => [utf8(key), utf8(value)]);

// Golden roots computed independently with Python's hashlib from the PROTOCOL.md definition.
describe('reference HASH golden values', () => {
  it.each([
    ['no keys', [], EMPTY_REFERENCE_ROOT],
    ['one key', [['key1', 'value1']], 'df7924204d7f8ca2723f8b792d59be876a433d8fd595a05f60ea92b85b61caac'],
    [
      'two keys',
      [
        ['a', '1'],
        ['b', '2'],
      ],
      '74fddec3a3528dc189681acc63660184465002f527204d236224be3660fffa7c',
    ],
    [
      'three keys (odd level promotes the last node)',
      [
        ['a', '1'],
        ['b', '2'],
        ['c', '3'],
      ],
      '699dab231835e9759faa486683e374a93686ae85c394d8870499c2e7b2599997',
    ],
    [
      'five keys',
      [1, 2, 3, 4, 5].map((i) => [`k${i}`, `v${i}`] as const),
      'e1aaf7a4e755844902f4b9a63758465f078122e63bb3f69a5e32359c2969a614',
    ],
    [
      'UTF-8 keys in byte order, empty value',
      [
        ['Z', ''],
        ['a', ' spaced '],
        ['é', 'ü'],
        ['😀', 'x'],
      ],
      '9ffa5508e7fa713bb722926579f5660eebecef3072874be828e5ba5d90807e50',
    ],
    [
      'a thousand keys',
      Array.from({ length: 1000 }, (_, i) => [`key:${String(i).padStart(4, '0')}`, `value-${i}`] as const),
      'e389f014d3f021ce2f85c7f09635f16bac28f16713524626ffb42a598c9a7cbd',
    ],
  ] as const)('%s', (_name, entries, root) => {
    expect(referenceMerkleRoot(pairs(entries))).toBe(root);
  });

  it('hashes leaves as u32be |key| ‖ key ‖ u32be |value| ‖ value, small or large', () => {
    expect(referenceLeafHash(utf8('key1'), utf8('value1')).toString('hex')).toBe(
      'df7924204d7f8ca2723f8b792d59be876a433d8fd595a05f60ea92b85b61caac',
    );
    expect(referenceLeafHash(new Uint8Array(0), new Uint8Array(0)).toString('hex')).toBe(
      'af5570f5a1810b7af78caf4bc70a660f0df51e42baf91d4de5b2328de0e83dfc',
    );
    expect(referenceLeafHash(utf8('big'), utf8('a'.repeat(100_000))).toString('hex')).toBe(
      'dd3b5621dbdef83177fe70b8fd7e5b5520ea07851020b13dd16ece07058177e1',
    );
  });
});

/** The reference's own shape: level by level, odd last node promoted unchanged. */
function levelByLevelRoot(leaves: readonly (readonly [Buffer, Buffer])[]): string {
  let level = leaves.map(([key, value]) => referenceLeafHash(key, value));
  if (level.length === 0) return EMPTY_REFERENCE_ROOT;
  while (level.length > 1) {
    const next: Buffer[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(createHash('sha256').update(level[i]!).update(level[i + 1]!).digest());
    if (level.length % 2 === 1) next.push(level[level.length - 1]!);
    level = next;
  }
  return level[0]!.toString('hex');
}

const sortedUniqueLeaves = (count: number): [Buffer, Buffer][] =>
  Array.from({ length: count }, (_, i) => [utf8(`k${String(i).padStart(5, '0')}`), utf8(`v${i * 7919}`)]);

describe('ReferenceMerkleBuilder', () => {
  it('streams the same root as the level-by-level tree for every count up to 300', () => {
    for (let count = 0; count <= 300; count++) {
      const leaves = sortedUniqueLeaves(count);
      expect(referenceMerkleRoot(leaves)).toBe(levelByLevelRoot(leaves));
    }
  });

  it('matches the level-by-level tree for random key sets', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.uint8Array({ maxLength: 6 }), { maxLength: 80, comparator: (a, b) => Buffer.compare(a, b) === 0 }), (keys) => {
        const leaves = keys
          .map((key): [Buffer, Buffer] => [Buffer.from(key), Buffer.from(key).reverse()])
          .sort(([a], [b]) => Buffer.compare(a, b));
        expect(referenceMerkleRoot(leaves)).toBe(levelByLevelRoot(leaves));
      }),
      { seed: 1234, numRuns: 300 },
    );
  });

  it('accepts cached leaf hashes', () => {
    const leaves = sortedUniqueLeaves(11);
    const builder = new ReferenceMerkleBuilder();
    for (const [key, value] of leaves) builder.addLeafHash(key, new Uint8Array(referenceLeafHash(key, value)));
    expect(builder.leafCount).toBe(11);
    expect(builder.root()).toBe(referenceMerkleRoot(leaves));
  });

  it('can report the root midway and keep going', () => {
    const leaves = sortedUniqueLeaves(9);
    const builder = new ReferenceMerkleBuilder();
    leaves.slice(0, 5).forEach(([key, value]) => builder.add(key, value));
    expect(builder.root()).toBe(referenceMerkleRoot(leaves.slice(0, 5)));
    leaves.slice(5).forEach(([key, value]) => builder.add(key, value));
    expect(builder.root()).toBe(referenceMerkleRoot(leaves));
  });

  it('orders by bytes, not by UTF-16 code units', () => {
    // U+FF61 sorts before U+1F600 in UTF-16 but after it in UTF-8 bytes (EF BD A1 < F0 9F 98 80).
    expect(() => referenceMerkleRoot(pairs([['｡', '1'], ['😀', '2']]))).not.toThrow();
    expect(() => referenceMerkleRoot(pairs([['😀', '2'], ['｡', '1']]))).toThrow(RangeError);
  });

  it('refuses keys out of order or repeated rather than return a wrong root', () => {
    expect(() => referenceMerkleRoot(pairs([['b', '1'], ['a', '2']]))).toThrow(/strictly ascending/);
    expect(() => referenceMerkleRoot(pairs([['a', '1'], ['a', '2']]))).toThrow(RangeError);
    expect(() => new ReferenceMerkleBuilder().addLeafHash(utf8('a'), new Uint8Array(31))).toThrow(RangeError);
  });

  it('is not fooled by a caller reusing its key buffer', () => {
    const key = Buffer.from('a');
    const builder = new ReferenceMerkleBuilder().add(key, utf8('1'));
    key[0] = 0x62; // now "b", after "a"
    expect(() => builder.add(key, utf8('2'))).not.toThrow();
    expect(builder.root()).toBe(referenceMerkleRoot(pairs([['a', '1'], ['b', '2']])));
  });
});
