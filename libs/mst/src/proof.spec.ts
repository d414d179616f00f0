import fc from 'fast-check';
import { isMstError } from './errors.js';
import { EMPTY_ROOT } from './node.js';
import { decodeProof, encodeProof, type MstProof, prove, verifyAbsence, verifyInclusion, verifyProof } from './proof.js';
import { entriesArb, fanoutArb, keyArb, SEED } from './testing/arbitraries.js';
import { digestOf, encodePreimage, hex, sha256Of } from './testing/model.js';
import { MerkleSearchTree, treeStats } from './tree.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('proofs', () => {
  it('prove every present key and every absent key, against the root alone (properties)', () => {
    fc.assert(
      fc.property(entriesArb(120), fc.array(keyArb, { maxLength: 20 }), fanoutArb, (entries, probes, fanout) => {
        const tree = MerkleSearchTree.fromEntries(entries, { fanout });
        const root = tree.root();
        for (const [key, digest] of entries) {
          const proof = prove(tree, key);
          expect(verifyInclusion(root, key, digest, proof)).toBe(true);
          expect(verifyAbsence(root, key, proof)).toBe(false);
          expect(verifyInclusion(root, key, digestOf('other'), proof)).toBe(false);
          expect(proof.nodes.length).toBeLessThanOrEqual(treeStats(tree).height);
        }
        for (const key of probes) {
          const present = tree.get(key);
          const proof = prove(tree, key);
          if (present === undefined) {
            expect(verifyAbsence(root, key, proof)).toBe(true);
            expect(verifyProof(root, proof)).toEqual({ valid: true, present: false });
          } else {
            expect(verifyProof(root, proof)).toEqual({ valid: true, present: true, digest: present });
          }
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('rejects every tampered proof (properties)', () => {
    fc.assert(
      fc.property(
        entriesArb(80).filter((e) => e.length > 0),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fanoutArb,
        (entries, which, where, flip, fanout) => {
          const tree = MerkleSearchTree.fromEntries(entries, { fanout });
          const root = tree.root();
          const [key, digest] = entries[which % entries.length]!;
          const proof = prove(tree, key);
          // Any flipped bit of any node.
          const n = which % proof.nodes.length;
          const node = proof.nodes[n]!.slice();
          node[where % node.length] = node[where % node.length]! ^ flip;
          const flipped: MstProof = { key, nodes: proof.nodes.map((b, i) => (i === n ? node : b)) };
          expect(verifyProof(root, flipped).valid).toBe(false);
          // A node dropped, a node added, the wrong root.
          expect(verifyInclusion(root, key, digest, { key, nodes: proof.nodes.slice(0, -1) })).toBe(false);
          expect(verifyInclusion(root, key, digest, { key, nodes: proof.nodes.slice(1) })).toBe(false);
          expect(verifyProof(root, { key, nodes: [...proof.nodes, proof.nodes[0]!] }).valid).toBe(false);
          expect(verifyProof(digestOf('another root'), proof).valid).toBe(false);
          // The proof of one key does not show another key's digest.
          const other = utf8(`${hex(key)}-other`);
          expect(verifyInclusion(root, other, digest, { key: other, nodes: proof.nodes })).toBe(false);
        },
      ),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('the empty tree proves every absence with no node', () => {
    const t = new MerkleSearchTree();
    const proof = prove(t, utf8('x'));
    expect(proof.nodes).toHaveLength(0);
    expect(verifyAbsence(EMPTY_ROOT, utf8('x'), proof)).toBe(true);
    expect(verifyAbsence(digestOf('not empty'), utf8('x'), proof)).toBe(false);
    expect(verifyProof(new Uint8Array(31), proof).valid).toBe(false);
  });

  it('a proof made before a write does not verify against the new root', () => {
    const t = MerkleSearchTree.fromEntries(Array.from({ length: 500 }, (_, i) => [utf8(`k${i}`), digestOf(`${i}`)] as const));
    const proof = prove(t, utf8('k7'));
    const before = t.root();
    t.upsert(utf8('k7'), digestOf('new'));
    expect(verifyInclusion(before, utf8('k7'), digestOf('7'), proof)).toBe(true);
    expect(verifyInclusion(t.root(), utf8('k7'), digestOf('7'), proof)).toBe(false);
    expect(verifyInclusion(t.root(), utf8('k7'), digestOf('new'), prove(t, utf8('k7')))).toBe(true);
  });

  it('long keys (multi-byte lengths in every encoding)', () => {
    const entries = Array.from({ length: 300 }, (_, i) => [new Uint8Array(130 + (i % 200)).fill(i % 251), digestOf(`${i}`)] as [Uint8Array, Uint8Array]);
    const t = MerkleSearchTree.fromEntries(entries, { fanout: 4 });
    for (const [key, digest] of entries.slice(0, 50)) {
      const proof = decodeProof(encodeProof(prove(t, key)));
      expect(verifyInclusion(t.root(), key, digest, proof)).toBe(true);
    }
  });

  it('a root over a malformed tree proves nothing', () => {
    const d = digestOf('d');
    // Bytes that hash to the claimed root but are no node.
    const garbage = utf8('not a node');
    expect(verifyProof(sha256Of(garbage), { key: utf8('x'), nodes: [garbage] })).toMatchObject({ valid: false, reason: expect.stringMatching(/node 0/) });
    // A child whose keys lie outside the gap its parent gives it ('blue' > '88bfafc7', in the left gap).
    const child = encodePreimage(0, [utf8('blue')], [d], [null, null]);
    const root = encodePreimage(1, [utf8('88bfafc7')], [d], [sha256Of(child), null]);
    expect(verifyProof(sha256Of(root), { key: utf8('0'), nodes: [root, child] })).toMatchObject({ valid: false, reason: expect.stringMatching(/outside/) });
    // Layers must decrease along the path.
    const flat = encodePreimage(0, [utf8('asdf')], [d], [null, null]);
    const top = encodePreimage(0, [utf8('blue')], [d], [sha256Of(flat), null]);
    expect(verifyProof(sha256Of(top), { key: utf8('a'), nodes: [top, flat] })).toMatchObject({ valid: false, reason: expect.stringMatching(/layer/) });
  });

  it('encodes and decodes; truncated or corrupt bytes are DECODE errors or invalid proofs', () => {
    const t = MerkleSearchTree.fromEntries(Array.from({ length: 800 }, (_, i) => [utf8(`k${i}`), digestOf(`${i}`)] as const), { fanout: 4 });
    const proof = prove(t, utf8('k123'));
    const bytes = encodeProof(proof);
    const back = decodeProof(bytes);
    expect(hex(back.key)).toBe(hex(proof.key));
    expect(back.nodes.map(hex)).toEqual(proof.nodes.map(hex));
    expect(verifyInclusion(t.root(), utf8('k123'), digestOf('123'), back)).toBe(true);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeProof(bytes.subarray(0, cut))).toThrow(expect.objectContaining({ code: 'DECODE' }));
    }
    for (let at = 0; at < bytes.length; at++) {
      const bad = bytes.slice();
      bad[at] = bad[at]! ^ 0x5a;
      try {
        const p = decodeProof(bad);
        expect(verifyInclusion(t.root(), utf8('k123'), digestOf('123'), p)).toBe(false);
      } catch (err) {
        expect(isMstError(err)).toBe(true);
      }
    }
  });
});
