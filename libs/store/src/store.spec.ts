import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assign, counterValue, entryBytes, increment, remove, type Entry, type Stamp } from '#crdt';
import { MemoryEngine, type PersistOp, RocksDbEngine, type StorageEngine, type StorageFaultEvent, Store } from '#store';
import { eventually } from '#testing';

const text = (e: Entry | undefined): string | undefined => {
  const bytes = e && entryBytes(e);
  return bytes && Buffer.from(bytes).toString('utf8');
};
const set = (store: Store, key: string, value: string): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => assign(prev, Buffer.from(value), stamp));

describe('Store', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (shards = 4, nodeId = 'n1'): Promise<Store> =>
    Store.open({ engine: new RocksDbEngine(dir), shards, nodeId });

  it('keeps acknowledged writes, deletes and counters across a reopen', async () => {
    const store = await open();
    await set(store, 'a', 'one');
    await set(store, 'b', 'two');
    await store.update('b', (prev, stamp) => remove(prev, stamp));
    await store.update('n', (prev, stamp) => increment(prev, 5n, stamp));
    await store.update('n', (prev, stamp) => increment(prev, -2n, stamp));
    await store.close();

    const again = await open();
    expect(text(again.read('a'))).toBe('one');
    expect(again.read('b')?.type).toBe('tombstone');
    const n = again.read('n');
    expect(n?.type === 'counter' && counterValue(n)).toBe(3n);
    expect(again.liveKeys).toBe(2);
    await again.close();
  });

  it('hides a write from readers until it is durable', async () => {
    const store = await open();
    const pending = set(store, 'k', 'v');
    expect(store.read('k')).toBeUndefined();
    await pending;
    expect(text(store.read('k'))).toBe('v');
    await store.close();
  });

  it('applies the mutations of one key in the order they were queued', async () => {
    const store = await open();
    const appends = Array.from({ length: 50 }, (_, i) =>
      store.update('log', (prev, stamp) => assign(prev, Buffer.concat([(prev && entryBytes(prev)) ?? Buffer.alloc(0), Buffer.from(`${i},`)]), stamp)),
    );
    await Promise.all(appends);
    expect(text(store.read('log'))).toBe(Array.from({ length: 50 }, (_, i) => `${i},`).join(''));
    await store.close();
  });

  it('rejects only the mutation that throws, and writes nothing for it', async () => {
    const store = await open();
    const refused = store.update('x', () => {
      throw new Error('no');
    });
    const accepted = set(store, 'y', 'ok');
    await expect(refused).rejects.toThrow('no');
    await accepted;
    expect(store.read('x')).toBeUndefined();
    expect(text(store.read('y'))).toBe('ok');
    await store.close();
  });

  it('truncates every shard, durably, and later writes survive a reopen', async () => {
    const store = await open();
    for (let i = 0; i < 40; i++) await set(store, `k${i}`, 'v');
    await store.truncate();
    expect(store.liveKeys).toBe(0);
    await set(store, 'after', 'yes');
    await store.update('c', (prev, stamp) => increment(prev, 1n, stamp));
    await store.close();

    const again = await open();
    expect(again.liveKeys).toBe(2);
    expect(again.read('k1')).toBeUndefined();
    expect(text(again.read('after'))).toBe('yes');
    await again.close();
  });

  it('scans live keys in UTF-8 byte order with prefix, cursor and limit', async () => {
    const store = await open();
    for (const key of ['b', 'a', 'ab', '\u{1F600}', '\uFFFD', 'a\u00e9', 'zz']) await set(store, key, 'v');
    await store.update('ab', (prev, stamp) => remove(prev, stamp));
    expect(store.scanKeys('')).toEqual(['a', 'a\u00e9', 'b', 'zz', '\uFFFD', '\u{1F600}']);
    expect(store.scanKeys('a')).toEqual(['a', 'a\u00e9']);
    expect(store.scanKeys('', 'a\u00e9', 2)).toEqual(['b', 'zz']);
    await store.close();
  });

  it('persists a generated node id and refuses a different shard count', async () => {
    const first = await Store.open({ engine: new RocksDbEngine(dir), shards: 8 });
    const id = first.nodeId;
    await first.close();
    const second = await Store.open({ engine: new RocksDbEngine(dir), shards: 8 });
    expect(second.nodeId).toBe(id);
    await second.close();
    await expect(Store.open({ engine: new RocksDbEngine(dir), shards: 4 })).rejects.toMatchObject({ code: 'SHARD_COUNT' });
  });

  it('fails every mutation of a group whose write fails, refuses writes while storage fails and resumes by itself', async () => {
    const engine = new FailingEngine();
    const events: StorageFaultEvent[] = [];
    const store = await Store.open({ engine, shards: 2, nodeId: 'n', storageRetryMs: 10, onStorageFault: (e) => events.push(e) });
    await set(store, 'a', 'kept');
    engine.diskFull = true;
    const results = await Promise.allSettled([set(store, 'a', 'lost'), set(store, 'b', 'lost')]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'STORAGE', message: expect.stringContaining('disk full') });
    expect(text(store.read('a'))).toBe('kept');
    expect(store.read('b')).toBeUndefined();
    expect(store.storageState).toMatchObject({ state: 'failed', error: expect.stringContaining('disk full'), restartRequired: false });

    // Refused at once, without a write; reads still served; the engine is not reopened while the disk is full.
    const writesBefore = engine.writes;
    await expect(set(store, 'b', 'refused')).rejects.toMatchObject({ code: 'STORAGE', message: expect.stringContaining('storage unavailable since') });
    await new Promise((r) => setTimeout(r, 50));
    expect(engine.reopens).toBe(0);
    expect(engine.writes - writesBefore).toBeGreaterThan(0); // probes only
    expect(store.storageState).toMatchObject({ state: 'failed', waitingFor: 'the disk is full' });

    engine.diskFull = false;
    await eventually('storage to be ok again', () => store.storageState.state === 'ok', 5_000);
    expect(engine.reopens).toBe(1);
    await set(store, 'b', 'later');
    expect(text(store.read('b'))).toBe('later');
    expect(events.map((e) => e.kind)).toEqual(['failed', 'resumed']);
    await store.close();
  });

  it('asks for a restart when a write reported as failed turns out to have reached the disk', async () => {
    const engine = new FailingEngine();
    const events: StorageFaultEvent[] = [];
    const store = await Store.open({ engine, shards: 2, nodeId: 'n', storageRetryMs: 10, onStorageFault: (e) => events.push(e) });
    await set(store, 'a', 'kept');
    engine.diskFull = true;
    engine.failAfterStoring = true;
    await expect(set(store, 'b', 'stored anyway')).rejects.toMatchObject({ code: 'STORAGE' });
    engine.diskFull = false;
    await eventually('two commit events', () => events.length === 2, 5_000);
    expect(events.map((e) => e.kind)).toEqual(['failed', 'restart-required']);
    expect(store.storageState).toMatchObject({ state: 'failed', restartRequired: true });
    await expect(set(store, 'c', 'x')).rejects.toMatchObject({ message: expect.stringContaining('restart the node') });
    await store.close();
    // The open path loads it.
    const again = await Store.open({ engine, shards: 2, nodeId: 'n' });
    expect(text(again.read('b'))).toBe('stored anyway');
    await again.close();
  });

  it('serves the same data after shedding its caches', async () => {
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', entryCacheBytes: 1 << 20, treeCacheBytes: 1 << 20 });
    for (let i = 0; i < 300; i++) await set(store, `k${i}`, `v${i}`);
    const roots = [store.shardRoot(0), store.shardRoot(1)];
    store.shedCaches();
    for (let i = 0; i < 300; i++) expect(text(store.read(`k${i}`))).toBe(`v${i}`);
    expect([store.shardRoot(0), store.shardRoot(1)]).toEqual(roots);
    await set(store, 'after', 'shed');
    store.shedCaches();
    expect(text(store.read('after'))).toBe('shed');
    await store.close();
  });

  it('rejects writes after close', async () => {
    const store = await Store.open({ engine: new MemoryEngine(), shards: 2, nodeId: 'n' });
    await store.close();
    await expect(set(store, 'a', 'b')).rejects.toMatchObject({ code: 'CLOSED' });
  });
});

describe('Store replication support', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-store-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (nodeId: string): Promise<Store> => Store.open({ engine: new RocksDbEngine(dir), shards: 4, nodeId, outbox: true });

  it('records every local change in the outbox, durably, and forgets acknowledged ones', async () => {
    const store = await open('a');
    const outbox = store.outbox!;
    let appended = 0;
    outbox.onAppend(() => appended++);
    await set(store, 'k1', 'v1');
    await store.update('n', (prev, stamp) => increment(prev, 2n, stamp));
    await store.truncate();
    expect(appended).toBeGreaterThan(0);
    const records = outbox.read(0n, 100);
    expect(records.map((r) => r.change.kind)).toEqual(['entry', 'entry', 'truncate', 'truncate', 'truncate', 'truncate']);
    expect(records.map((r) => r.seq)).toEqual([...records.map((r) => r.seq)].sort((x, y) => (x < y ? -1 : 1)));
    await outbox.acknowledge([records[0]!.seq]);
    // An acknowledgement still queued for the next commit group is written before the store closes.
    const queued = outbox.acknowledge([records[1]!.seq]);
    await store.close();
    await queued;

    const again = await open('a');
    const left = again.outbox!.read(0n, 100);
    expect(left.map((r) => r.seq)).toEqual(records.slice(2).map((r) => r.seq));
    await set(again, 'k2', 'v2');
    const newest = again.outbox!.read(records[records.length - 1]!.seq, 10);
    expect(newest).toHaveLength(1);
    expect(newest[0]!.seq).toBeGreaterThan(records[records.length - 1]!.seq);
    await again.close();
  });

  it('coalesces unsent changes of one key into their merge', async () => {
    const store = await open('a');
    for (let i = 0; i < 10; i++) await store.update('n', (prev, stamp) => increment(prev, 1n, stamp));
    await set(store, 'other', 'x');
    const records = store.outbox!.read(0n, 100);
    expect(records).toHaveLength(2);
    const counter = records.find((r) => r.change.kind === 'entry' && r.change.key === 'n')!.change;
    expect(counter.kind === 'entry' && counter.entry.type === 'counter' && counter.entry.inc.get('a')).toBe(10n);
    await store.close();
  });

  it('coalesces changes of one key made within one commit group, and keeps memory bounded by keys', async () => {
    const store = await open('a');
    await Promise.all(Array.from({ length: 1000 }, (_, i) => set(store, 'hot', `v${i}`)));
    expect(store.outbox!.depth).toBe(1);
    const [only] = store.outbox!.read(0n, 10);
    expect(only!.change.kind === 'entry' && text(only!.change.entry)).toBe('v999');
    for (let i = 0; i < 3000; i++) await set(store, 'hot', `w${i}`);
    expect(store.outbox!.depth).toBe(1);
    await store.close();
    const again = await open('a');
    expect(again.outbox!.depth).toBe(1);
    await again.close();
  });

  it("carries each local write's trace context to its outbox record, in memory only, and reports MST heights", async () => {
    let current: string | undefined = 'trace-1';
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 4, nodeId: 'a', outbox: true, traceContext: () => current });
    const write = set(store, 'k', 'v1');
    current = 'trace-2';
    await Promise.all([write, set(store, 'other', 'x')]);
    current = undefined;
    await store.truncate();
    const traces = new Map(store.outbox!.read(0n, 100).map((r) => [r.change.kind === 'entry' ? r.change.key : `truncate ${r.change.shard}`, r.trace]));
    expect(traces).toEqual(
      new Map([
        ['k', 'trace-1'],
        ['other', 'trace-2'],
        ...Array.from({ length: 4 }, (_, shard) => [`truncate ${shard}`, undefined] as const),
      ]),
    );
    current = 'trace-3';
    await set(store, 'k', 'v2');
    expect(store.outbox!.read(0n, 100).find((r) => r.change.kind === 'entry' && r.change.key === 'k')?.trace).toBe('trace-3');
    for (let i = 0; i < 200; i++) await set(store, `h${i}`, 'x');
    // The height is the tree's as it stands: a root brings it up to date.
    for (let shard = 0; shard < 4; shard++) store.shardRoot(shard);
    expect(Math.max(...Array.from({ length: 4 }, (_, shard) => store.shardHeight(shard)))).toBeGreaterThan(1);
    await store.close();
    const again = await open('a');
    expect(again.outbox!.read(0n, 1000).every((r) => r.trace === undefined)).toBe(true);
    await again.close();
  });

  it('keeps committing when a commit listener throws', async () => {
    const errors: unknown[] = [];
    const store = await Store.open({ engine: new MemoryEngine(), shards: 2, nodeId: 'n', onListenerError: (e) => errors.push(e) });
    const seen: string[] = [];
    store.onCommit(() => {
      throw new Error('listener bug');
    });
    store.onCommit((events) => seen.push(...events.map((e) => (e.kind === 'entry' ? e.key : 'truncate'))));
    await set(store, 'a', '1');
    await set(store, 'b', '2');
    expect(seen).toEqual(['a', 'b']);
    expect(errors).toHaveLength(2);
    await store.close();
  });

  it('merges remote changes without recording them, idempotently, so replicas converge', async () => {
    const a = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'a', outbox: true });
    const b = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'b', outbox: true });
    await a.update('hits', (prev, stamp) => increment(prev, 3n, stamp));
    await b.update('hits', (prev, stamp) => increment(prev, 4n, stamp));
    await set(a, 'name', 'from-a');
    const ship = async (from: Store, to: Store): Promise<void> => {
      for (const { change } of from.outbox!.read(0n, 100)) {
        if (change.kind === 'entry') {
          await to.merge(change.key, change.entry);
          expect(await to.merge(change.key, change.entry)).toBe(false);
        }
      }
    };
    await ship(a, b);
    await ship(b, a);
    for (const store of [a, b]) {
      const hits = store.read('hits');
      expect(hits?.type === 'counter' && counterValue(hits)).toBe(7n);
      expect(text(store.read('name'))).toBe('from-a');
    }
    expect(b.outbox!.read(0n, 100)).toHaveLength(1);
    await a.close();
    await b.close();
  });

  it('keeps per-shard MST roots equal on replicas that merged the same changes in any order, and across a reopen', async () => {
    const a = await open('a');
    const changes: Entry[] = [];
    const keys: string[] = [];
    for (let i = 0; i < 60; i++) {
      const key = `k${i % 40}`;
      const entry = i % 7 === 0 ? await a.update(key, (prev, stamp) => remove(prev, stamp)) : await set(a, key, `v${i}`);
      if (entry) {
        changes.push(entry);
        keys.push(key);
      }
    }
    const b = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'b' });
    for (let i = changes.length - 1; i >= 0; i--) await b.merge(keys[i]!, changes[i]!);
    const roots = (s: Store): string[] => Array.from({ length: 4 }, (_, i) => Buffer.from(s.shardRoot(i)).toString('hex'));
    expect(roots(b)).toEqual(roots(a));
    const before = roots(a);
    await a.close();
    const again = await open('a');
    expect(roots(again)).toEqual(before);
    await again.close();
    await b.close();
  });

  it('gives the same roots whether the trees caught up in background slices, partly or not at all', async () => {
    const a = await open('a');
    const b = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'b' });
    const roots = (s: Store): string[] => Array.from({ length: 4 }, (_, i) => Buffer.from(s.shardRoot(i)).toString('hex'));
    const entries: [string, Entry][] = [];
    // More keys than one slice, in several groups, with pauses that let some slices run between them.
    for (let round = 0; round < 3; round++) {
      const written = await Promise.all(Array.from({ length: 700 }, (_, i) => set(a, `r${i % 500}:${round % 2}`, `v${round}.${i}`)));
      written.forEach((entry, i) => entries.push([`r${i % 500}:${round % 2}`, entry!]));
      await new Promise((r) => setTimeout(r, round * 60));
    }
    for (const [key, entry] of entries.reverse()) await b.merge(key, entry);
    expect(roots(a)).toEqual(roots(b));
    await new Promise((r) => setTimeout(r, 200));
    expect(roots(a)).toEqual(roots(b));
    await a.close();
    await b.close();
  });

  it('applies a remote truncation, keeping entries newer than its floor', async () => {
    const store = await open('b');
    await set(store, 'old', 'x');
    const floor: Stamp = { hlc: store.clock.tick(), node: 'a' };
    await set(store, 'new', 'y');
    expect(await store.applyTruncate(store.shardOf('old'), floor)).toBe(true);
    expect(await store.applyTruncate(store.shardOf('new'), floor)).toBe(store.shardOf('new') !== store.shardOf('old'));
    expect(store.read('old')).toBeUndefined();
    expect(text(store.read('new'))).toBe('y');
    expect(await store.merge('old', { type: 'register', stamp: { hlc: { wall: 1, logical: 0 }, node: 'a' }, value: Buffer.from('stale') })).toBe(false);
    await store.close();
    const again = await open('b');
    expect(again.read('old')).toBeUndefined();
    expect(text(again.read('new'))).toBe('y');
    await again.close();
  });
});

/**
 * A memory engine that fails writes as RocksDB does on a full disk: once one fails, every later
 * write fails too, until the engine is reopened, which the full disk itself prevents.
 */
class FailingEngine extends MemoryEngine implements StorageEngine {
  diskFull = false;
  /** The failing write is stored all the same (a log record written before the error). */
  failAfterStoring = false;
  writes = 0;
  reopens = 0;
  private broken = false;

  override async write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    this.writes++;
    if (this.diskFull && !this.broken) {
      this.broken = true;
      if (this.failAfterStoring) await super.write(ops, sync);
    }
    if (this.broken) throw new Error('IO error: disk full');
    await super.write(ops, sync);
  }

  override recoveryBlocker(): string | undefined {
    return this.diskFull ? 'the disk is full' : undefined;
  }

  override async recover(): Promise<void> {
    this.reopens++;
    this.broken = false;
  }
}

