import { assign, entryBytes, type Entry } from '#crdt';
import { MemoryEngine, type PersistOp, type StorageEngine, Store } from '#store';

/** A memory engine that records each batch's entry keys and the shards whose tree records it holds, and can fail the next batch. */
class RecordingEngine extends MemoryEngine implements StorageEngine {
  readonly batches: string[][] = [];
  readonly treeShards: number[][] = [];
  failNext = false;

  override async write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    this.batches.push(ops.flatMap((op) => (op.type === 'put' ? [op.key] : [])));
    this.treeShards.push([...new Set(ops.flatMap((op) => (op.type === 'node-put' ? [op.shard] : [])))]);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('IO error: injected');
    }
    await super.write(ops, sync);
  }
}

const text = (e: Entry | undefined): string | undefined => {
  const bytes = e && entryBytes(e);
  return bytes && Buffer.from(bytes).toString('utf8');
};

describe('commit loop', () => {
  const open = async (): Promise<{ store: Store; engine: RecordingEngine }> => {
    const engine = new RecordingEngine();
    const store = await Store.open({ engine, shards: 8, nodeId: 'n1', checkpointDelayMs: 60_000 });
    engine.batches.length = 0;
    return { store, engine };
  };
  const set = (store: Store, key: string, value: string): Promise<Entry | undefined> =>
    store.update(key, (prev, stamp) => assign(prev, Buffer.from(value), stamp));
  const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);

  it('writes every mutation queued in one turn, across shards, as one batch', async () => {
    const { store, engine } = await open();
    expect(new Set(keys.map((key) => store.shardOf(key))).size).toBeGreaterThan(1);
    await Promise.all(keys.map((key) => set(store, key, 'v')));
    expect(engine.batches.map((batch) => [...batch].sort())).toEqual([[...keys].sort()]);
    await store.close();
  });

  it('rejects every mutation of a failed batch, shows none of them, and keeps the group together', async () => {
    const { store, engine } = await open();
    await set(store, 'k0', 'before');
    engine.failNext = true;
    const outcomes = await Promise.allSettled(keys.map((key) => set(store, key, 'lost')));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(text(store.read('k0'))).toBe('before');
    expect(keys.slice(1).every((key) => store.read(key) === undefined)).toBe(true);
    await store.close();
  });

  it('settles writes in the order they were queued, each after its batch', async () => {
    const { store, engine } = await open();
    const settled: string[] = [];
    const first = set(store, 'a', '1').then(() => settled.push(`a after ${engine.batches.length} batch(es)`));
    await new Promise((r) => setImmediate(r));
    const second = set(store, 'b', '2').then(() => settled.push(`b after ${engine.batches.length} batch(es)`));
    await Promise.all([first, second]);
    expect(settled).toEqual(['a after 1 batch(es)', 'b after 2 batch(es)']);
    await store.close();
  });

  it('stores a checkpoint a shard or a few a group, never in two groups in a row that carry writes', async () => {
    const { store, engine } = await open();
    // About 2,000 keys a shard: each shard's checkpoint (a pending-key marker deleted per key) fills a group's share.
    await Promise.all(Array.from({ length: 16_000 }, (_, i) => set(store, `key:${i}`, 'v')));
    for (let shard = 0; shard < store.shardCount; shard++) store.shardRoot(shard);
    engine.batches.length = 0;
    engine.treeShards.length = 0;
    store.shedCaches(); // a checkpoint comes next
    const stored = (): Set<number> => new Set(engine.treeShards.flat());
    for (let i = 0; stored().size < store.shardCount; i++) await set(store, `during:${i}`, 'v');
    const groups = engine.batches.map((keys, i) => ({ writes: keys.length > 0, trees: engine.treeShards[i]! }));
    expect(engine.treeShards.flat().sort()).toEqual(Array.from({ length: store.shardCount }, (_, shard) => shard));
    expect(groups.filter((group) => group.trees.length > 0).length).toBe(store.shardCount);
    groups.forEach((group, i) => {
      if (i > 0 && group.writes && group.trees.length > 0) expect(groups[i - 1]!.trees).toEqual([]);
    });
    expect(groups.some((group) => group.writes && group.trees.length > 0)).toBe(true);
    await store.close();
  });
});
