import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { MerkleSearchTree, MstError, type NodeSource, type PersistedRoot, pieceFingerprints, recordChildIds, toHex } from './index.js';

/** Records by id, as the store keeps them; counts the reads. */
class RecordStore implements NodeSource {
  readonly records = new Map<number, Uint8Array>();
  reads = 0;
  private next = 1;

  read(id: number): Uint8Array | undefined {
    this.reads++;
    return this.records.get(id);
  }

  readonly nextId = (): number => this.next++;

  /** Stores a checkpoint of `tree`; freed records go at once unless `keepFreed`. */
  persist(tree: MerkleSearchTree, keepFreed = false): PersistedRoot | null {
    const checkpoint = tree.checkpoint(this.nextId);
    for (const [id, record] of checkpoint.records) this.records.set(id, record);
    if (!keepFreed) for (const id of checkpoint.freed) this.records.delete(id);
    return checkpoint.root;
  }

  /** Ids reachable from a root, following the child ids after each record's preimage. */
  reachable(root: number | undefined): Set<number> {
    const seen = new Set<number>();
    const visit = (id: number): void => {
      seen.add(id);
      const record = this.records.get(id);
      if (!record) throw new Error(`dangling child id ${id}`);
      for (const child of recordChildIds(record)) visit(child);
    };
    if (root !== undefined) visit(root);
    return seen;
  }
}

const key = (i: number): Uint8Array => Buffer.from(`key-${i}`);
const digest = (i: number, version: number): Uint8Array => createHash('sha256').update(`${i}/${version}`).digest();

function referenceRoot(model: Map<number, number>): string {
  return toHex(MerkleSearchTree.fromEntries([...model].map(([i, v]) => [key(i), digest(i, v)] as const)).root());
}

function contents(tree: MerkleSearchTree): string[] {
  return [...tree.entries()].map((e) => `${Buffer.from(e.key).toString()}=${toHex(e.digest)}`);
}

type Op = { op: 'put'; key: number; version: number } | { op: 'del'; key: number } | { op: 'checkpoint' } | { op: 'evict' } | { op: 'reopen' };

describe('a persisted Merkle Search Tree', () => {
  it('checkpoints, evicts and reopens to the same root as an in-memory tree of the same map, leaving no stray record', () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ op: fc.constant('put' as const), key: fc.integer({ min: 0, max: 400 }), version: fc.integer({ min: 0, max: 3 }) }) },
      { weight: 3, arbitrary: fc.record({ op: fc.constant('del' as const), key: fc.integer({ min: 0, max: 400 }) }) },
      { weight: 1, arbitrary: fc.constant({ op: 'checkpoint' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'evict' as const }) },
      { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
    );
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 300 }), fc.array(op, { maxLength: 300 }), (initial, ops) => {
        const store = new RecordStore();
        const model = new Map<number, number>(initial.map((i) => [i, 0]));
        let tree = MerkleSearchTree.fromEntries([...model].map(([i, v]) => [key(i), digest(i, v)] as const));
        tree.persistTo(store);
        store.persist(tree);
        let root: PersistedRoot | null;
        for (const o of ops) {
          switch (o.op) {
            case 'put':
              tree.upsert(key(o.key), digest(o.key, o.version));
              model.set(o.key, o.version);
              break;
            case 'del':
              expect(tree.remove(key(o.key))).toBe(model.delete(o.key));
              break;
            case 'checkpoint':
              root = store.persist(tree);
              expect(root === null ? undefined : toHex(root.hash)).toBe(model.size === 0 ? undefined : referenceRoot(model));
              expect(new Set(store.records.keys())).toEqual(store.reachable(root?.id));
              break;
            case 'evict':
              tree.evict(0);
              break;
            case 'reopen':
              // What a restart finds: the last checkpoint, none of the changes after it.
              root = store.persist(tree);
              tree = MerkleSearchTree.open(store, root);
              break;
          }
          expect(toHex(tree.root())).toBe(referenceRoot(model));
          expect(tree.size).toBe(model.size);
        }
        root = store.persist(tree);
        const reopened = MerkleSearchTree.open(store, root);
        expect(toHex(reopened.root())).toBe(referenceRoot(model));
        expect(contents(reopened)).toEqual(contents(MerkleSearchTree.fromEntries([...model].map(([i, v]) => [key(i), digest(i, v)] as const))));
        expect(new Set(store.records.keys())).toEqual(store.reachable(root?.id));
      }),
      { seed: 0x14, numRuns: 60 },
    );
  });

  it('reads only the nodes a lookup passes through, and reads them again after an eviction', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 20_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const root = store.persist(tree)!;
    const reopened = MerkleSearchTree.open(store, root);
    expect(toHex(reopened.root())).toBe(toHex(root.hash));
    expect(store.reads).toBe(0);
    expect(reopened.get(key(12_345))).toEqual(digest(12_345, 0));
    const path = store.reads;
    expect(path).toBeGreaterThan(0);
    expect(path).toBeLessThanOrEqual(6);
    reopened.get(key(12_345));
    expect(store.reads).toBe(path);
    // Two sweeps: the first clears the read flags, the second unloads what was not read again.
    reopened.evict(0);
    reopened.evict(0);
    reopened.get(key(12_345));
    expect(store.reads).toBeGreaterThan(path);
  });

  it('keeps the upper layers loaded when what was read exceeds the budget: a later lookup reads its leaf only', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 20_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const reopened = MerkleSearchTree.open(store, store.persist(tree)!);
    const lookups = Array.from({ length: 200 }, (_, i) => (i * 7_919) % 20_000);
    for (let i = 0; i < 20_000; i++) reopened.get(key(i));
    const everyNode = store.reads;
    // Every node was read since the last sweep: 600 KB holds the layers above the leaves with their stubs (~330 KB), not the leaves.
    reopened.evict(600_000);
    for (const i of lookups) reopened.get(key(i));
    const leaves = store.reads - everyNode;
    expect(leaves).toBeGreaterThan(0);
    expect(leaves).toBeLessThanOrEqual(lookups.length);
    // With no room at all, everything below the root goes, as before.
    reopened.evict(0);
    reopened.evict(0);
    const before = store.reads;
    reopened.get(key(lookups[0]!));
    expect(store.reads - before).toBeGreaterThan(1);
  });

  it("counts the stubs a kept layer holds: a budget for layer 1's own bytes, not for its leaves' stubs, sheds it too", () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 20_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const reopened = MerkleSearchTree.open(store, store.persist(tree)!);
    for (let i = 0; i < 20_000; i++) reopened.get(key(i));
    // Layer 1 here: ~80 nodes, ~80 KB of their own, holding ~1,300 leaf stubs (~230 KB).
    reopened.evict(250_000);
    const before = store.reads;
    reopened.get(key(4_321));
    expect(store.reads - before).toBeGreaterThan(1);
  });

  it('keeps a snapshot readable while the live tree changes, checkpoints and evicts, as long as freed records are kept', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 5_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    store.persist(tree);
    const snapshot = tree.snapshot();
    const before = contents(snapshot);
    for (let i = 0; i < 5_000; i += 7) tree.upsert(key(i), digest(i, 1));
    store.persist(tree, true);
    tree.evict(0);
    tree.evict(0);
    expect(contents(snapshot)).toEqual(before);
  });

  it('lets a snapshot unload what its walks read, the nodes only it still holds included, and read them again', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 5_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const reopened = MerkleSearchTree.open(store, store.persist(tree)!);
    const snapshot = reopened.snapshot();
    const before = contents(snapshot);
    const walk = store.reads;
    // The live tree replaces a path in ten: those old nodes are the snapshot's alone now.
    for (let i = 0; i < 5_000; i += 10) reopened.upsert(key(i), digest(i, 1));
    store.persist(reopened, true);
    const afterWrites = store.reads;
    snapshot.evict(0);
    expect(contents(snapshot)).toEqual(before);
    // Every node the first walk read but the root is read again: none stayed loaded.
    expect(store.reads - afterWrites).toBe(walk - 1);
    const model = new Map(Array.from({ length: 5_000 }, (_, i) => [i, i % 10 === 0 ? 1 : 0] as const));
    expect(toHex(reopened.root())).toBe(referenceRoot(model));
  });

  it('fingerprints the pieces of a layer without reading a node below it', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 20_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const reopened = MerkleSearchTree.open(store, store.persist(tree)!);
    const expected = pieceFingerprints(tree, 1, null, null, 7);
    expect(pieceFingerprints(reopened, 1, null, null, 7)).toEqual(expected);
    // The nodes on layer 1 and above: about one in 17 of the ~1,250 nodes.
    expect(store.reads).toBeGreaterThan(0);
    expect(store.reads).toBeLessThan(store.records.size / 8);
  });

  it('refuses a record that does not hash to what its parent holds', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 2_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    const root = store.persist(tree)!;
    const reopened = MerkleSearchTree.open(store, root);
    const record = store.records.get(root.id)!;
    record[record.length - 40] = record[record.length - 40]! ^ 1;
    expect(() => reopened.get(key(1))).toThrow(MstError);
    store.records.delete(root.id);
    expect(() => MerkleSearchTree.open(store, root).get(key(1))).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
  });

  it('forgets the ids of a checkpoint whose write failed, and stores the same nodes next time', () => {
    const store = new RecordStore();
    const tree = MerkleSearchTree.fromEntries(Array.from({ length: 1_000 }, (_, i) => [key(i), digest(i, 0)] as const));
    tree.persistTo(store);
    store.persist(tree);
    tree.upsert(key(5), digest(5, 9));
    const failed = tree.checkpoint(store.nextId);
    expect(failed.freed.length).toBeGreaterThan(0);
    failed.abort();
    const root = store.persist(tree)!;
    expect(new Set(store.records.keys())).toEqual(store.reachable(root.id));
    expect(toHex(MerkleSearchTree.open(store, root).root())).toBe(toHex(tree.root()));
  });
});
