import { assign, entryBytes, type Entry } from '#crdt';
import { MemoryEngine, type PersistOp, type StorageEngine, Store } from '#store';

/** A memory engine that records each batch's entry keys, and can fail the next batch. */
class RecordingEngine extends MemoryEngine implements StorageEngine {
  readonly batches: string[][] = [];
  failNext = false;

  override async write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    this.batches.push(ops.flatMap((op) => (op.type === 'put' ? [op.key] : [])));
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
});
