import { createHash } from 'node:crypto';
import { keysFromLayer, MerkleSearchTree, pieceFingerprints } from '#mst';
import { keysWithFingerprints } from './reconcile.js';
import { keyFingerprint } from './sketch.js';

const SALT = 0x5a17;
const name = (i: number): string => `key-${String(i).padStart(6, '0')}`;
const fingerprint = (key: string): number => {
  const bytes = Buffer.from(key);
  return keyFingerprint(bytes, 0, bytes.length, SALT);
};

describe('keys named by their fingerprints', () => {
  const tree = MerkleSearchTree.fromEntries(Array.from({ length: 20_000 }, (_, i) => [Buffer.from(name(i)), createHash('sha256').update(name(i)).digest()] as const));

  it('finds them in a whole range, or only in the pieces a sketch plan read', () => {
    const range = { lo: Buffer.from(name(5_000)), hi: Buffer.from(name(9_000)) };
    const cuts = keysFromLayer(tree, 1, range.lo, range.hi).map((key) => Buffer.from(key).toString());
    expect(pieceFingerprints(tree, 1, range.lo, range.hi, SALT).length).toBe(cuts.length + 1);
    // Every other piece read: a key is found only where its piece was.
    const pieces = Array.from({ length: cuts.length + 1 }, (_, j) => j % 2 === 0);
    const pieceOf = (key: string): number => cuts.filter((cut) => cut <= key).length;
    const wanted = [name(5_001), name(6_500), name(7_777), name(8_999)];
    const fps = new Set(wanted.map(fingerprint));
    const whole = keysWithFingerprints(tree, range, fps, SALT).map(([key]) => key);
    expect(whole).toEqual(wanted);
    const read = keysWithFingerprints(tree, range, fps, SALT, { layer: 1, pieces }).map(([key]) => key);
    expect(read).toEqual(wanted.filter((key) => pieces[pieceOf(key)]));
    expect(read.length).toBeGreaterThan(0);
    expect(read.length).toBeLessThan(wanted.length);
  });
});
