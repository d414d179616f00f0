import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assign, encodeEntry, encodeHlc, entryBytes, HybridLogicalClock, increment, isLive, remove, type Entry } from '#crdt';
import { MemoryEngine, RocksDbEngine, shardOf, STORAGE_FORMAT, Store, type StorageEngine } from '#store';

const set = (store: Store, key: string, value: string): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => assign(prev, Buffer.from(value), stamp));
const text = (e: Entry | undefined): string | undefined => {
  const bytes = e && entryBytes(e);
  return bytes && Buffer.from(bytes).toString('utf8');
};

/** Live keys and their bytes, counted the slow way: every stored entry. */
function recount(store: Store): { keys: number; bytes: number } {
  let keys = 0;
  let bytes = 0;
  for (let shard = 0; shard < store.shardCount; shard++) {
    for (const [key, entry] of store.shardEntries(shard)) {
      if (!isLive(entry)) continue;
      keys++;
      bytes += Buffer.byteLength(key) + (entry.type === 'register' ? entry.value.length : entry.type === 'counter' ? 8 * (1 + entry.inc.size + entry.dec.size) : 32);
    }
  }
  return { keys, bytes };
}

/** An engine that counts the entry reads reaching it. */
class CountingEngine extends RocksDbEngine {
  reads = 0;
  override getEntries(shard: number, keys: readonly string[]): (Uint8Array | undefined)[] {
    this.reads++;
    return super.getEntries(shard, keys);
  }
}

describe('Store on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-persist-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its live key count and bytes on disk through writes, deletes, truncation and reopen', async () => {
    // Random histories over a small key set: the persisted counts always equal a recount.
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('set' as const), key: fc.integer({ min: 0, max: 12 }), value: fc.string({ maxLength: 8 }) }),
            fc.record({ op: fc.constant('del' as const), key: fc.integer({ min: 0, max: 12 }) }),
            fc.record({ op: fc.constant('inc' as const), key: fc.integer({ min: 0, max: 12 }) }),
            fc.record({ op: fc.constant('truncate' as const) }),
          ),
          { maxLength: 40 },
        ),
        async (ops) => {
          const path = mkdtempSync(join(dir, 'run-'));
          let store = await Store.open({ engine: new RocksDbEngine(path), shards: 3, nodeId: 'n', entryCacheBytes: 0 });
          // Ops queued together land in shared commit groups, as under load.
          await Promise.all(
            ops.map((o) => {
              if (o.op === 'truncate') return store.truncate();
              const key = `k${o.key}`;
              if (o.op === 'set') return set(store, key, o.value);
              if (o.op === 'del') return store.update(key, (prev, stamp) => remove(prev, stamp));
              return store.update(key, (prev, stamp) => increment(prev, 1n, stamp));
            }),
          );
          const expected = recount(store);
          expect({ keys: store.liveKeys, bytes: store.dataBytes }).toEqual(expected);
          await store.close();
          store = await Store.open({ engine: new RocksDbEngine(path), shards: 3, nodeId: 'n' });
          expect({ keys: store.liveKeys, bytes: store.dataBytes }).toEqual(expected);
          await store.close();
        },
      ),
      { seed: 14, numRuns: 40 },
    );
  });

  it('reads through a bounded entry cache: a cache far smaller than the data still reads every value', async () => {
    const engine = new CountingEngine(dir);
    const store = await Store.open({ engine, shards: 4, nodeId: 'n', entryCacheBytes: 4096 });
    await Promise.all(Array.from({ length: 500 }, (_, i) => set(store, `key-${i}`, `value-${i}`)));
    const before = engine.reads;
    for (let i = 0; i < 500; i++) expect(text(store.read(`key-${i}`))).toBe(`value-${i}`);
    // Most of the keys were evicted, so most reads went to the engine.
    expect(engine.reads - before).toBeGreaterThan(400);
    await store.close();
  });

  it('fetches the stored entries a commit group needs in one engine call per shard', async () => {
    const engine = new CountingEngine(dir);
    const store = await Store.open({ engine, shards: 1, nodeId: 'n', entryCacheBytes: 0 });
    const before = engine.reads;
    await Promise.all(Array.from({ length: 100 }, (_, i) => set(store, `k${i}`, 'v')));
    expect(engine.reads - before).toBe(1);
    await store.close();
  });

  it('starts its clock past every stored stamp when the wall clock went back across a restart', async () => {
    let wall = 5_000_000;
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', clock: new HybridLogicalClock({ now: () => wall }) });
    const written = await set(store, 'a', 'first');
    await store.close();
    // The wall clock went back in time across the restart.
    wall = 1_000;
    const again = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', clock: new HybridLogicalClock({ now: () => wall }) });
    const next = await set(again, 'a', 'second');
    expect(next!.stamp.hlc.wall).toBeGreaterThanOrEqual(written!.stamp.hlc.wall);
    expect(text(again.read('a'))).toBe('second');
    await again.close();
  });

  it('upgrades a directory of the first format once, counting its keys, and reports it', async () => {
    // Format 1: entries and a node id, no format, no counts, no clock.
    const engine = new MemoryEngine();
    await engine.open();
    const stamp = { hlc: { wall: 9_000_000, logical: 0 }, node: 'old' };
    const entries: [string, Entry][] = [
      ['a', { type: 'register', stamp, value: Buffer.from('one') }],
      ['b', { type: 'tombstone', stamp }],
      ['c', { type: 'register', stamp, value: Buffer.from('three') }],
    ];
    await engine.write(
      [
        { type: 'meta-put', name: 'node_id', value: Buffer.from('old') },
        { type: 'meta-put', name: 'shards', value: Buffer.from('2') },
        ...entries.map(([key, entry]) => ({ type: 'put' as const, shard: shardOf(key, 2), key, value: encodeEntry(entry) })),
      ],
      true,
    );
    const progress: number[] = [];
    const store = await Store.open({ engine: reopenable(engine), shards: 2, onUpgrade: (p) => progress.push(p.shardsDone) });
    expect(progress).toEqual([1, 2]);
    expect(store.liveKeys).toBe(2);
    expect(store.dataBytes).toBe(1 + 3 + 1 + 5);
    expect(Buffer.from(engine.getMeta('format')!).toString()).toBe(String(STORAGE_FORMAT));
    expect(engine.getMeta('clock')).toEqual(Buffer.from(encodeHlc(store.clock.peek())));
    await store.close();

    const again: number[] = [];
    const reopened = await Store.open({ engine: reopenable(engine), shards: 2, onUpgrade: (p) => again.push(p.shardsDone) });
    expect(again).toEqual([]);
    expect(reopened.liveKeys).toBe(2);
    await reopened.close();
  });

  it('refuses a directory of a newer format with a clear error', async () => {
    const engine = new MemoryEngine();
    await engine.write(
      [
        { type: 'meta-put', name: 'node_id', value: Buffer.from('n') },
        { type: 'meta-put', name: 'format', value: Buffer.from(String(STORAGE_FORMAT + 1)) },
      ],
      true,
    );
    await expect(Store.open({ engine, shards: 2 })).rejects.toMatchObject({
      code: 'FORMAT',
      message: expect.stringContaining(`storage format ${STORAGE_FORMAT + 1}, newer than this release reads`),
    });
  });

  it('streams a large scan without reading past what the caller takes', async () => {
    const engine = new CountingEngine(dir);
    const store = await Store.open({ engine, shards: 4, nodeId: 'n' });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${String(i).padStart(5, '0')}`, 'v')));
    expect(store.scanKeys('k0', 'k00100', 3)).toEqual(['k00101', 'k00102', 'k00103']);
    let n = 0;
    let last = '';
    for (const [key] of store.liveEntries('')) {
      expect(key > last).toBe(true);
      last = key;
      n++;
    }
    expect(n).toBe(3000);
    await store.close();
  });
});

/** The same memory engine again, as a fresh open would find it. */
function reopenable(engine: MemoryEngine): StorageEngine {
  return Object.assign(Object.create(engine) as MemoryEngine, { open: async () => {}, close: async () => {} });
}
