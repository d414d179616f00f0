import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { compareBytes } from './bytes.js';
import { MstError } from './errors.js';
import { keyLayer } from './layer.js';
import { digestArb, entriesArb as entriesArbOf, fanoutArb, keyArb, SEED } from './testing/arbitraries.js';
import { digestOf, hex, type ModelMap, modelRoot, modelShape } from './testing/model.js';
import { MerkleSearchTree, treeShape, treeStats } from './tree.js';

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const build = (keys: readonly string[], fanout = 16): MerkleSearchTree =>
  MerkleSearchTree.fromEntries(
    keys.map((k) => [utf8(k), digestOf(`v:${k}`)] as const),
    { fanout },
  );

const entriesArb = entriesArbOf(150);
type Op = { kind: 'upsert'; key: Uint8Array; digest: Uint8Array } | { kind: 'remove'; key: Uint8Array };
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('upsert' as const), key: keyArb, digest: digestArb }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), key: keyArb }) },
);

function apply(tree: MerkleSearchTree, model: ModelMap, op: Op): void {
  const id = hex(op.key);
  if (op.kind === 'upsert') {
    const before = model.get(id);
    const changed = before === undefined || hex(before) !== hex(op.digest);
    expect(tree.upsert(op.key, op.digest)).toBe(changed);
    model.set(id, op.digest);
  } else {
    expect(tree.remove(op.key)).toBe(model.delete(id));
  }
}

function expectMatchesModel(tree: MerkleSearchTree, model: ModelMap): void {
  expect(hex(tree.root())).toBe(hex(modelRoot(model, tree.fanout)));
  expect(treeShape(tree)).toEqual(modelShape(model, tree.fanout));
  expect(tree.size).toBe(model.size);
  const expected = [...model.entries()].sort(([a], [b]) => compareBytes(Buffer.from(a, 'hex'), Buffer.from(b, 'hex')));
  expect([...tree.entries()].map((e) => [hex(e.key), hex(e.digest)])).toEqual(expected.map(([k, d]) => [k, hex(d)]));
}

describe('golden roots', () => {
  it('the empty tree has the all-zero root', () => {
    const t = new MerkleSearchTree();
    expect(hex(t.root())).toBe('0'.repeat(64));
    expect(t.size).toBe(0);
    expect(treeShape(t)).toBeNull();
  });

  it('one key: the hash of its node encoding, spelled out', () => {
    const digest = digestOf('v:a');
    expect(keyLayer(utf8('a'))).toBe(0);
    // layer 0 | 1 key | key length 1 | "a" | digest | empty gap | empty gap
    const preimage = Buffer.concat([Buffer.from([0, 1, 1]), Buffer.from('a'), digest, Buffer.from([0, 0])]);
    const expected = createHash('sha256').update(preimage).digest('hex');
    expect(hex(build(['a']).root())).toBe(expected);
    expect(expected).toBe('d0f0e157cecd1adbe1812afbfb280292bf7d140e11412a87f4aae0c2a829146e');
  });

  it('keys on layers 0 to 4 (fanout 16)', () => {
    const keys = ['', 'asdf', 'blue', '2653ae71', '88bfafc7', '2a92d355', '884976f5', 'app.bsky.feed.post/9adeb165882c', 'app.bsky.feed.post/454397e440ec'];
    expect(keys.map((k) => keyLayer(utf8(k)))).toEqual([0, 0, 0, 0, 1, 2, 3, 4, 2]);
    const t = build(keys);
    expect(treeStats(t).height).toBe(4);
    expect(hex(t.root())).toBe('e7b3c25fceddc4c826f8062979be8e0c872f5563c936d4c84e263ae67fa1df49');
  });

  it('a child three layers below its parent (no filler nodes)', () => {
    const t = build(['asdf', '884976f5']);
    expect(treeShape(t)).toEqual({
      layer: 3,
      keys: [hex(utf8('884976f5'))],
      children: [null, { layer: 0, keys: [hex(utf8('asdf'))], children: [null, null] }],
    });
    expect(hex(t.root())).toBe('2b6056c1062bccd2e75baedb2de93dc1f0f594bd4c14e989ef537d2e1a9ac3b4');
  });

  it('the 156 atproto example keys at fanout 4', () => {
    const keys = readFileSync(new URL('./testing/vectors/example_keys.txt', import.meta.url), 'utf8').split('\n').filter(Boolean);
    const t = build(keys, 4);
    expect(treeStats(t).height).toBe(6);
    expect(hex(t.root())).toBe('4726dbd065f7b4c113d28b9525aae8f6a56f6384d195fa74715b78c1d332dd12');
  });
});

describe('map operations', () => {
  it('get, has, upsert, remove, size', () => {
    const t = new MerkleSearchTree();
    const [d1, d2] = [digestOf('1'), digestOf('2')];
    expect(t.upsert(utf8('k'), d1)).toBe(true);
    expect(t.upsert(utf8('k'), d1)).toBe(false);
    expect(t.get(utf8('k'))).toEqual(d1);
    expect(t.upsert(utf8('k'), d2)).toBe(true);
    expect(t.get(utf8('k'))).toEqual(d2);
    expect(t.has(utf8('k'))).toBe(true);
    expect(t.has(utf8('j'))).toBe(false);
    expect(t.get(utf8('j'))).toBeUndefined();
    expect(t.size).toBe(1);
    expect(t.remove(utf8('j'))).toBe(false);
    expect(t.remove(utf8('k'))).toBe(true);
    expect(t.size).toBe(0);
    expect(hex(t.root())).toBe('0'.repeat(64));
  });

  it('copies keys and digests in and out', () => {
    const t = new MerkleSearchTree();
    const key = utf8('key');
    const digest = digestOf('x');
    t.upsert(key, digest);
    key[0] = 0;
    digest[0] = digest[0]! ^ 0xff;
    expect(t.get(utf8('key'))).toEqual(digestOf('x'));
    const got = t.get(utf8('key'))!;
    got[0] = got[0]! ^ 0xff;
    expect(t.get(utf8('key'))).toEqual(digestOf('x'));
  });

  it('rejects digests that are not 32 bytes', () => {
    const t = new MerkleSearchTree();
    expect(() => t.upsert(utf8('k'), new Uint8Array(31))).toThrow(MstError);
    expect(() => MerkleSearchTree.fromSorted([utf8('k')], [new Uint8Array(33)])).toThrow(MstError);
  });

  it('bulk build rejects unsorted or duplicate keys', () => {
    const d = digestOf('d');
    expect(() => MerkleSearchTree.fromSorted([utf8('b'), utf8('a')], [d, d])).toThrow(/not strictly ascending/);
    expect(() => MerkleSearchTree.fromSorted([utf8('a'), utf8('a')], [d, d])).toThrow(/not strictly ascending/);
    expect(() => MerkleSearchTree.fromSorted([utf8('a')], [])).toThrow(MstError);
  });

  it('fromEntries keeps the last digest of a duplicate key', () => {
    const t = MerkleSearchTree.fromEntries([
      [utf8('a'), digestOf('1')],
      [utf8('a'), digestOf('2')],
    ]);
    expect(t.get(utf8('a'))).toEqual(digestOf('2'));
    expect(t.size).toBe(1);
  });

  it('clear empties the tree', () => {
    const t = build(['a', 'b', 'c']);
    t.clear();
    expect(t.size).toBe(0);
    expect([...t]).toEqual([]);
    expect(hex(t.root())).toBe('0'.repeat(64));
  });

  it('range iteration is half-open and works for absent bounds', () => {
    const keys = Array.from({ length: 300 }, (_, i) => `k${String(i).padStart(3, '0')}`);
    const t = build(keys, 4);
    const range = (start?: string, end?: string): string[] =>
      [...t.entries({ ...(start !== undefined && { start: utf8(start) }), ...(end !== undefined && { end: utf8(end) }) })].map((e) => Buffer.from(e.key).toString());
    expect(range('k010', 'k013')).toEqual(['k010', 'k011', 'k012']);
    expect(range('k0105', 'k013')).toEqual(['k011', 'k012']);
    expect(range(undefined, 'k002')).toEqual(['k000', 'k001']);
    expect(range('k298')).toEqual(['k298', 'k299']);
    expect(range('z')).toEqual([]);
    expect(range('k5', 'k1')).toEqual([]);
  });
});

describe('canonical shape (properties)', () => {
  it('a bulk build equals the reference model', () => {
    fc.assert(
      fc.property(entriesArb, fanoutArb, (entries, fanout) => {
        const t = MerkleSearchTree.fromEntries(entries, { fanout });
        expectMatchesModel(t, new Map(entries.map(([k, d]) => [hex(k), d])));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('any insertion order gives the same root and structure', () => {
    fc.assert(
      fc.property(
        entriesArb.chain((e) => fc.tuple(fc.constant(e), fc.shuffledSubarray(e, { minLength: e.length, maxLength: e.length }))),
        fanoutArb,
        ([entries, shuffled], fanout) => {
          const a = new MerkleSearchTree({ fanout });
          for (const [k, d] of entries) a.upsert(k, d);
          const b = new MerkleSearchTree({ fanout });
          for (const [k, d] of shuffled) b.upsert(k, d);
          expect(hex(a.root())).toBe(hex(b.root()));
          expect(treeShape(a)).toEqual(treeShape(b));
          expect(hex(a.root())).toBe(hex(MerkleSearchTree.fromEntries(entries, { fanout }).root()));
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('any sequence of upserts and removes equals a fresh bulk build of the final map', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(opArb, { maxLength: 250 }), fanoutArb, fc.integer({ min: 0, max: 5 }), (initial, ops, fanout, rootEvery) => {
        const tree = MerkleSearchTree.fromEntries(initial, { fanout });
        const model: ModelMap = new Map(initial.map(([k, d]) => [hex(k), d]));
        ops.forEach((op, i) => {
          apply(tree, model, op);
          // Reading the root now and then exercises lazy rehashing of partly clean trees.
          if (rootEvery > 0 && i % rootEvery === 0) tree.root();
        });
        expectMatchesModel(tree, model);
        const fresh = MerkleSearchTree.fromSorted(
          [...tree.entries()].map((e) => e.key),
          [...tree.entries()].map((e) => e.digest),
          { fanout },
        );
        expect(hex(fresh.root())).toBe(hex(tree.root()));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('removing every key in any order empties the tree through canonical states', () => {
    fc.assert(
      fc.property(entriesArb.chain((e) => fc.tuple(fc.constant(e), fc.shuffledSubarray(e, { minLength: e.length, maxLength: e.length }))), ([entries, order]) => {
        const tree = MerkleSearchTree.fromEntries(entries, { fanout: 4 });
        const model: ModelMap = new Map(entries.map(([k, d]) => [hex(k), d]));
        for (const [k] of order) {
          apply(tree, model, { kind: 'remove', key: k });
          expect(hex(tree.root())).toBe(hex(modelRoot(model, 4)));
        }
        expect(tree.size).toBe(0);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});

describe('long keys', () => {
  it('keys of 0 to 400 bytes agree with the model (multi-byte lengths, native key hashing)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.tuple(fc.uint8Array({ maxLength: 400 }), digestArb), { selector: ([k]) => hex(k), maxLength: 60 }), (entries) => {
        const tree = new MerkleSearchTree({ fanout: 4 });
        for (const [k, d] of entries) tree.upsert(k, d);
        expectMatchesModel(tree, new Map(entries.map(([k, d]) => [hex(k), d])));
      }),
      { seed: SEED, numRuns: 40 },
    );
  });
});

describe('deep restructuring (seeded)', () => {
  // Merges of two equal-layer subtrees whose facing edges are both non-empty need big trees:
  // thousands of keys at fanout 4, removed and re-inserted in random order.
  it('random removes and inserts on a 3000-key tree stay canonical', () => {
    const rand = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { seed: SEED, numRuns: 20000 });
    let r = 0;
    const next = (n: number): number => rand[r++ % rand.length]! % n;
    const keys = Array.from({ length: 3000 }, (_, i) => utf8(`key/${i}`));
    const tree = MerkleSearchTree.fromEntries(keys.map((k) => [k, digestOf('0')] as const), { fanout: 4 });
    const present = new Map(keys.map((k) => [hex(k), k]));
    const check = (): void => {
      const live = [...present.values()].sort(compareBytes);
      const fresh = MerkleSearchTree.fromSorted(live, live.map(() => digestOf('0')), { fanout: 4 });
      expect(hex(tree.root())).toBe(hex(fresh.root()));
      expect(treeShape(tree)).toEqual(treeShape(fresh));
    };
    const snapshots: [MerkleSearchTree, string, number][] = [];
    for (let step = 0; step < 6000; step++) {
      if (step % 700 === 0) snapshots.push([tree.snapshot(), hex(tree.root()), tree.size]);
      const k = keys[next(keys.length)]!;
      if (present.has(hex(k))) {
        tree.remove(k);
        present.delete(hex(k));
      } else {
        tree.upsert(k, digestOf('0'));
        present.set(hex(k), k);
      }
      if (step % 500 === 0) check();
    }
    check();
    for (const [snap, root, size] of snapshots) {
      expect(hex(snap.root())).toBe(root);
      expect(snap.size).toBe(size);
      expect([...snap.entries()].length).toBe(size);
    }
  });
});

describe('snapshots', () => {
  it('later writes to either side never disturb the other (properties)', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(opArb, { maxLength: 80 }), fc.array(opArb, { maxLength: 80 }), fanoutArb, (initial, opsA, opsB, fanout) => {
        const a = MerkleSearchTree.fromEntries(initial, { fanout });
        const ma: ModelMap = new Map(initial.map(([k, d]) => [hex(k), d]));
        if (initial.length % 2 === 0) a.root(); // sometimes share clean nodes, sometimes dirty ones
        const b = a.snapshot();
        const mb: ModelMap = new Map(ma);
        const c = b.snapshot();
        const mc: ModelMap = new Map(mb);
        opsA.forEach((op) => apply(a, ma, op));
        opsB.forEach((op) => apply(b, mb, op));
        expectMatchesModel(a, ma);
        expectMatchesModel(b, mb);
        expectMatchesModel(c, mc);
      }),
      { seed: SEED, numRuns: 120 },
    );
  });

  it('an iteration sees the tree as it was when it started', () => {
    const t = build(Array.from({ length: 500 }, (_, i) => `k${i}`), 4);
    const before = [...t.entries()].map((e) => [hex(e.key), hex(e.digest)]);
    const seen: string[][] = [];
    for (const e of t.entries()) {
      seen.push([hex(e.key), hex(e.digest)]);
      t.upsert(e.key, digestOf('changed'));
      t.upsert(utf8(`${Buffer.from(e.key).toString()}x`), digestOf('new'));
      t.remove(utf8('k499'));
    }
    expect(seen).toEqual(before);
  });
});

describe('shape statistics', () => {
  it('fanout 16 gives ~16 keys per node', () => {
    const keys = Array.from({ length: 20000 }, (_, i) => `key-${i}`).sort();
    const t = build(keys);
    const { nodes, height } = treeStats(t);
    expect(keys.length / nodes).toBeGreaterThan(10);
    expect(keys.length / nodes).toBeLessThan(25);
    expect(height).toBeGreaterThanOrEqual(3);
    expect(height).toBeLessThanOrEqual(6);
  });
});
