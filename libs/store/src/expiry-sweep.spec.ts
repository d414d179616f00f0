import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, type Entry, entryDigest, expiredForm, HybridLogicalClock, type LiveEntry, touch } from '#crdt';
import { type CommitEvent, RocksDbEngine, Store } from '#store';
import { eventually } from '#testing';

const SHARDS = 4;

/** Writes `key` with an expiry `ttlMs` from now. */
const setExpiring = (store: Store, key: string, ttlMs: number): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => assign(prev, Buffer.from(key), stamp, { expiry: { at: Date.now() + ttlMs, stamp } }));

/** Every record of the expiry index, all shards. */
const indexed = (store: Store, engine: RocksDbEngine): string[] =>
  Array.from({ length: SHARDS }, (_, shard) => engine.expiringKeys(shard, Number.MAX_SAFE_INTEGER, 1e6).map((r) => `${r.key}@${r.at}`)).flat().sort();

describe('expiry sweeper', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-sweep-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = async (options: { intervalMs?: number; limit?: number; clock?: HybridLogicalClock } = {}): Promise<{ store: Store; engine: RocksDbEngine }> => {
    const engine = new RocksDbEngine(dir);
    const store = await Store.open({
      engine,
      shards: SHARDS,
      nodeId: 'n1',
      expirySweepIntervalMs: options.intervalMs ?? 20,
      ...(options.limit === undefined ? {} : { expirySweepLimit: options.limit }),
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    return { store, engine };
  };

  it('replaces expired entries by their expired form, keeps the index exact, and tells watchers', async () => {
    const { store, engine } = await open();
    const events: CommitEvent[] = [];
    store.onCommit((batch) => events.push(...batch));
    await setExpiring(store, 'soon', 150);
    const later = await setExpiring(store, 'later', 60_000);
    await store.update('plain', (prev, stamp) => assign(prev, Buffer.from('x'), stamp));
    expect(indexed(store, engine)).toHaveLength(2);
    expect(store.liveKeys).toBe(3);
    await eventually('the sweep', () => store.read('soon')?.type === 'tombstone');
    const soon = store.read('soon')!;
    expect(soon.type).toBe('tombstone');
    expect(store.liveKeys).toBe(2);
    expect(store.expiredEntries).toBe(1);
    expect(indexed(store, engine)).toEqual([`later@${(later as LiveEntry).expiry!.at}`]);
    expect(events.some((e) => e.kind === 'entry' && e.key === 'soon' && e.entry.type === 'tombstone')).toBe(true);
    // The tombstone is in the tombstone index, for collection like any delete's.
    expect([...Array.from({ length: SHARDS }, (_, s) => [...store.shardTombstones(s)].map(([k]) => k))].flat()).toEqual(['soon']);
    await store.close();
  });

  it('follows a touch: the index moves to the new time, and taking the expiry away leaves no record', async () => {
    const { store, engine } = await open();
    const first = (await setExpiring(store, 'k', 60_000)) as LiveEntry;
    const moved = (await store.update('k', (prev, stamp) => touch(prev, first.expiry!.at + 1000, stamp))) as LiveEntry;
    expect(indexed(store, engine)).toEqual([`k@${moved.expiry!.at}`]);
    await store.update('k', (prev, stamp) => touch(prev, 0, stamp));
    expect(indexed(store, engine)).toEqual([]);
    await store.close();
  });

  it('works through a backlog in bounded turns, and an expiry survives a restart', async () => {
    // The first store's clock runs an hour behind, so its sweeper (which runs at open, possibly
    // after some of these writes are durable) never finds a key due: the whole backlog is the second store's.
    const first = await open({ intervalMs: 60_000, limit: 7, clock: new HybridLogicalClock({ now: () => Date.now() - 3_600_000 }) });
    // The sweeper runs at open and then rests a minute: a backlog can only drain in full turns.
    await Promise.all(Array.from({ length: 30 }, (_, i) => setExpiring(first.store, `k${i}`, -1000)));
    await first.store.close();
    const { store, engine } = await open({ intervalMs: 60_000, limit: 7 });
    const groups: number[] = [];
    store.onCommit((batch) => groups.push(batch.length));
    // The sweeper empties the backlog 7 keys a turn, each turn once the last one is durable.
    await eventually('the backlog to drain', () => store.expiredEntries === 30);
    expect(Math.max(...groups)).toBeLessThanOrEqual(7);
    expect(groups.reduce((a, b) => a + b, 0)).toBe(30);
    expect(indexed(store, engine)).toEqual([]);
    expect(store.liveKeys).toBe(0);
    for (let i = 0; i < 30; i++) expect(store.read(`k${i}`)?.type).toBe('tombstone');
    await store.close();
  });

  it("judges what is due by the store's own clock, also when it runs ahead of the process's", async () => {
    const hourAhead = (): number => Date.now() + 3_600_000;
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: SHARDS, nodeId: 'n1', expirySweepIntervalMs: 20, clock: new HybridLogicalClock({ now: hourAhead }) });
    // Due 100 ms from now by the store's clock, an hour later by Date.now.
    await store.update('k', (prev, stamp) => assign(prev, Buffer.from('v'), stamp, { expiry: { at: hourAhead() + 100, stamp } }));
    await eventually('the sweep', () => store.read('k')?.type === 'tombstone');
    expect(store.expiredEntries).toBe(1);
    await store.close();
  });

  it('the expired form is what every replica derives alike: same digest from the same entry', async () => {
    const { store } = await open();
    const entry = (await setExpiring(store, 'k', 60_000)) as LiveEntry;
    expect(entryDigest(expiredForm(entry))).toEqual(entryDigest(expiredForm(structuredClone(entry))));
    await store.close();
  });
});
