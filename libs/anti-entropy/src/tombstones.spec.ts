import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isLive } from '#crdt';
import { RocksDbEngine, Store } from '#store';
import { runSession, type SessionReport } from './session.js';
import { del, entries, link, openReplica, roots, set } from './testing/replicas.js';
import { TombstoneCollector } from './tombstones.js';

const GRACE_MS = 1000;

describe('tombstone collection', () => {
  let a: Store;
  let b: Store;
  let c: Store;
  /** Every clock of the test runs `offset` ms ahead of the wall clock. */
  let offset: number;
  const now = (): number => Date.now() + offset;
  const later = (ms = 10): void => void (offset += ms);
  let collector: TombstoneCollector;

  beforeEach(async () => {
    offset = 0;
    [a, b, c] = await Promise.all([openReplica('a'), openReplica('b'), openReplica('c')]);
    collector = new TombstoneCollector({ store: a, graceMs: GRACE_MS, now });
    await set(a, 'gone', 'old value');
    await set(a, 'kept', 'v');
    for (const store of [b, c]) for (const [key, entry] of entries(a)) await store.merge(key, entry);
    await del(a, 'gone');
  });
  afterEach(async () => {
    await Promise.all([a, b, c].map((s) => s.close()));
  });

  /** A session a initiated with `peer`, recorded as the coordinator records it. */
  async function confirm(peer: Store, name: string, clean = true): Promise<SessionReport> {
    later();
    const report = await runSession({ store: a, transport: link(peer).transport, tombstoneGraceMs: GRACE_MS, now });
    expect(report.error).toBeNull();
    collector.recordSession(name, report.completedShards, report.startedAt, clean, true);
    later();
    return report;
  }

  const holdsTombstone = (store: Store): boolean => store.read('gone')?.type === 'tombstone';

  it('collects a tombstone only once it is old and every peer confirmed it twice', async () => {
    collector.observe(['b']);
    expect(await collector.collect()).toBe(0); // too young, and this node only just started
    later(GRACE_MS + 100);
    expect(await collector.collect()).toBe(0); // marked as a candidate now; nobody confirmed it since
    await confirm(b, 'b');
    expect(holdsTombstone(b)).toBe(true); // the session took the delete to b
    expect(await collector.collect()).toBe(0); // one round of confirmations is not enough
    await confirm(b, 'b');
    expect(await collector.collect()).toBe(1);
    expect(a.read('gone')).toBeUndefined();
    expect(a.read('kept')?.type).toBe('register');
    expect(collector.collected).toBe(1);
  });

  it('waits for every node seen within the grace period, and for clean confirmations', async () => {
    collector.observe(['b', 'c']);
    later(GRACE_MS + 100);
    await collector.collect();
    await confirm(b, 'b');
    await confirm(b, 'b');
    await confirm(c, 'c', false); // c's outbox or backlog was not empty
    await confirm(c, 'c', false);
    expect(await collector.collect()).toBe(0);
    await confirm(c, 'c');
    await confirm(b, 'b');
    await confirm(c, 'c');
    expect(await collector.collect()).toBe(1);
  });

  it('drops a candidate whose key was written again', async () => {
    collector.observe(['b']);
    later(GRACE_MS + 100);
    await collector.collect();
    await set(a, 'gone', 'back on purpose');
    await confirm(b, 'b');
    await confirm(b, 'b');
    expect(await collector.collect()).toBe(0);
    expect(a.read('gone')?.type).toBe('register');
  });

  it('never lets the old value come back, and replicas that collected at different times stop exchanging it', async () => {
    collector.observe(['b', 'c']);
    later(GRACE_MS + 100);
    await collector.collect();
    for (const peer of [b, c, b, c]) await confirm(peer, peer === b ? 'b' : 'c');
    expect(await collector.collect()).toBe(1);
    // b and c still hold the tombstone; sessions in both directions must not hand it back to a,
    // and nothing anywhere holds the old value again.
    for (const [from, to] of [[a, b], [b, a], [c, a], [a, c], [b, c]] as const) {
      const report = await runSession({ store: from, transport: link(to).transport, tombstoneGraceMs: GRACE_MS, now });
      expect(report.error).toBeNull();
    }
    expect(a.read('gone')).toBeUndefined();
    for (const store of [a, b, c]) expect(isLive(store.read('gone'))).toBe(false);
    // Once b and c collected it too, all trees are equal again.
    for (const store of [b, c]) {
      const entry = store.read('gone')!;
      expect(await store.collectTombstone('gone', entry.stamp)).toBe(true);
    }
    expect(roots(b)).toEqual(roots(a));
    expect(roots(c)).toEqual(roots(a));
  });

  it('collects nothing while it has no peer to confirm with', async () => {
    later(GRACE_MS + 100);
    await collector.collect();
    later();
    expect(await collector.collect()).toBe(0);
    expect(holdsTombstone(a)).toBe(true);
  });
});

describe('Store.collectTombstone', () => {
  it('removes only the exact tombstone, durably and invisibly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'merklekv-gc-'));
    const open = (): Promise<Store> => Store.open({ engine: new RocksDbEngine(dir), shards: 4, nodeId: 's' });
    const store = await open();
    try {
      await set(store, 'k', 'v');
      const tomb = (await del(store, 'k'))!;
      await set(store, 'other', 'v');
      const seen: unknown[] = [];
      store.onCommit((events) => seen.push(...events));
      expect(await store.collectTombstone('other', tomb.stamp)).toBe(false);
      expect(await store.collectTombstone('k', { ...tomb.stamp, node: 'zz' })).toBe(false);
      expect(await store.collectTombstone('k', tomb.stamp)).toBe(true);
      expect(store.read('k')).toBeUndefined();
      expect(await store.collectTombstone('k', tomb.stamp)).toBe(false);
      expect(seen).toEqual([]);
      await store.close();
      const again = await open();
      expect(again.read('k')).toBeUndefined();
      expect(again.read('other')?.type).toBe('register');
      await again.close();
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
