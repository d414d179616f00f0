import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { assign, encodeEntry, encodeHlc, entryBytes, entryDigest, HybridLogicalClock, increment, isLive, remove, type Entry } from '#crdt';
import { MerkleSearchTree, recordChildIds, toHex } from '#mst';
import { MemoryEngine, type PersistOp, RocksDbEngine, shardOf, STORAGE_FORMAT, Store, type StorageEngine } from '#store';
import { eventually } from '#testing';

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

/** Per shard, the tombstone index's keys and the keys whose stored entry is a tombstone. */
function tombstoneIndex(store: Store): { indexed: string[][]; scanned: string[][] } {
  const shards = Array.from({ length: store.shardCount }, (_, i) => i);
  return {
    indexed: shards.map((shard) => [...store.shardTombstones(shard)].map(([key]) => key)),
    scanned: shards.map((shard) => [...store.shardEntries(shard)].filter(([, e]) => e.type === 'tombstone').map(([key]) => key)),
  };
}

/** An engine that counts the entry reads reaching it. */
class CountingEngine extends RocksDbEngine {
  reads = 0;
  override getEntries(shards: readonly number[], keys: readonly string[]): (Uint8Array | undefined)[] {
    this.reads++;
    return super.getEntries(shards, keys);
  }
}

/** An engine that keeps the names of the metadata records written to it. */
class MetaRecordingEngine extends RocksDbEngine {
  readonly metaWritten: string[] = [];
  override write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    for (const op of ops) if (op.type === 'meta-put') this.metaWritten.push(op.name);
    return super.write(ops, sync);
  }
}

describe('Store on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-persist-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps its live key count, bytes and tombstone index on disk through writes, deletes, truncation and reopen', async () => {
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
          const { indexed, scanned } = tombstoneIndex(store);
          expect(indexed).toEqual(scanned);
          await store.close();
          store = await Store.open({ engine: new RocksDbEngine(path), shards: 3, nodeId: 'n' });
          expect({ keys: store.liveKeys, bytes: store.dataBytes }).toEqual(expected);
          await store.close();
        },
      ),
      { seed: 14, numRuns: 40 },
    );
  });

  it('stores a shard\'s counts with the groups that change them only, and reopens with them', async () => {
    const engine = new MetaRecordingEngine(dir);
    let store = await Store.open({ engine, shards: 1, nodeId: 'n' });
    await set(store, 'a', 'one');
    expect(engine.metaWritten).toContain('counts/0');
    engine.metaWritten.length = 0;
    // Same key count, same bytes: nothing new to store.
    await set(store, 'a', 'two');
    expect(engine.metaWritten).not.toContain('counts/0');
    await set(store, 'a', 'three');
    expect(engine.metaWritten).toContain('counts/0');
    await store.close();
    store = await Store.open({ engine: new RocksDbEngine(dir), shards: 1, nodeId: 'n' });
    expect({ keys: store.liveKeys, bytes: store.dataBytes }).toEqual({ keys: 1, bytes: 'a'.length + 'three'.length });
    await store.close();
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

  it('reads many keys of several shards in their order with one engine call for all the misses', async () => {
    const engine = new CountingEngine(dir);
    const store = await Store.open({ engine, shards: 4, nodeId: 'n', entryCacheBytes: 0 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    await store.update('k3', (prev, stamp) => remove(prev, stamp));
    const keys = ['k5', 'missing', 'k3', 'k39', 'k0', 'k5'];
    const before = engine.reads;
    const entries = store.readMany(keys);
    expect(entries.map((e) => (e?.type === 'tombstone' ? 'deleted' : text(e)))).toEqual(['v5', undefined, 'deleted', 'v39', 'v0', 'v5']);
    expect(new Set(keys.map((k) => shardOf(k, 4))).size).toBeGreaterThan(1);
    expect(engine.reads - before).toBe(1);
    await store.close();
  });

  it('answers a cached key at once, and the cache misses of one turn together in one engine call', async () => {
    const engine = new CountingEngine(dir);
    const store = await Store.open({ engine, shards: 4, nodeId: 'n', entryCacheBytes: 1 << 20 });
    await Promise.all(Array.from({ length: 40 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    // Written keys are cached: answered in the caller's turn.
    const hit = store.readBatched('k7');
    expect(hit).not.toBeInstanceOf(Promise);
    expect(text(hit as Entry)).toBe('v7');

    store.shedCaches();
    const before = engine.reads;
    const pending = ['k1', 'k2', 'nope', 'k30'].map((key) => store.readBatched(key));
    expect(pending.every((p) => p instanceof Promise)).toBe(true);
    expect(engine.reads).toBe(before);
    expect((await Promise.all(pending)).map(text)).toEqual(['v1', 'v2', undefined, 'v30']);
    expect(engine.reads - before).toBe(1);
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
    expect(tombstoneIndex(store).indexed.flat()).toEqual(['b']);
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

  it('refuses synchronous reads while a recovery replaces its handle, and a scan paused across it, instead of touching the freed database', async () => {
    const engine = new RocksDbEngine(dir);
    await engine.open();
    await engine.write(
      Array.from({ length: 2000 }, (_, i) => ({ type: 'put', shard: 0, key: `k${String(i).padStart(5, '0')}`, value: Buffer.from('v') }) as const),
      false,
    );
    const scan = engine.scan(0);
    expect(scan.next().done).toBe(false);
    const recovering = engine.recover();
    expect(() => engine.getEntries([0], ['k00000'])).toThrow(expect.objectContaining({ code: 'STORAGE' }));
    expect(() => engine.getMeta('x')).toThrow(expect.objectContaining({ code: 'STORAGE' }));
    await recovering;
    expect(() => [...scan]).toThrow(expect.objectContaining({ code: 'STORAGE', message: expect.stringContaining('reopened during a scan') }));
    expect(engine.getEntries([0], ['k00000'])[0]).toEqual(Buffer.from('v'));
    expect([...engine.scan(0)]).toHaveLength(2000);
    await engine.close();
  });
});

/** The same memory engine again, as a fresh open would find it. */
function reopenable(engine: MemoryEngine): StorageEngine {
  return Object.assign(Object.create(engine) as MemoryEngine, { open: async () => {}, close: async () => {} });
}

/** The root of a tree built afresh from a shard's stored entries. */
function recomputedRoot(store: Store, shard: number): string {
  const pairs = [...store.shardEntries(shard)].map(([key, entry]) => [Buffer.from(key, 'utf8'), entryDigest(entry)] as const);
  return toHex(MerkleSearchTree.fromEntries(pairs).root());
}

const roots = (store: Store): string[] => Array.from({ length: store.shardCount }, (_, i) => toHex(store.shardRoot(i)));

describe('Store trees on disk', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-trees-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens with its trees stored: no entry read, the same roots as before the stop', async () => {
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 4, nodeId: 'n' });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    await Promise.all(Array.from({ length: 300 }, (_, i) => store.update(`k${i * 7}`, (prev, stamp) => remove(prev, stamp))));
    const before = roots(store);
    await store.close();

    const engine = new CountingEngine(dir);
    let scans = 0;
    const scan = engine.scan.bind(engine);
    engine.scan = (shard, range) => {
      scans++;
      return scan(shard, range);
    };
    const again = await Store.open({ engine, shards: 4, nodeId: 'n' });
    expect(roots(again)).toEqual(before);
    expect({ scans, reads: engine.reads }).toEqual({ scans: 0, reads: 0 });
    for (let shard = 0; shard < 4; shard++) expect(toHex(again.shardRoot(shard))).toBe(recomputedRoot(again, shard));
    await again.close();
  });

  it('drops every pending-key marker with one range deletion at a clean close, touching no other record', async () => {
    const engine = new RocksDbEngine(dir);
    await engine.open();
    await engine.write(
      [
        { type: 'pending-put', shard: 0, key: 'a' },
        { type: 'pending-put', shard: 3, key: 'b' },
        { type: 'tomb-put', shard: 0, key: 'a' },
        { type: 'meta-put', name: 'm', value: Buffer.from('kept') },
      ],
      false,
    );
    await engine.dropPendingMarkers();
    expect([0, 3].flatMap((shard) => [...engine.pendingKeys(shard)])).toEqual([]);
    expect([...engine.tombstoneKeys(0)]).toEqual(['a']);
    expect(Buffer.from(engine.getMeta('m')!).toString()).toBe('kept');
    await engine.close();

    // A store that stopped cleanly left no marker; one that crashed keeps its markers (previous test).
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 4, nodeId: 'n' });
    await Promise.all(Array.from({ length: 300 }, (_, i) => set(store, `k${i}`, 'v')));
    await store.close();
    const reopened = new RocksDbEngine(dir);
    await reopened.open();
    expect(Array.from({ length: 4 }, (_, shard) => [...reopened.pendingKeys(shard)]).flat()).toEqual([]);
    await reopened.close();
  });

  it('after a crash, catches its trees up from the markers of the keys written since the last checkpoint', async () => {
    const engine = new MemoryEngine();
    const store = await Store.open({ engine, shards: 4, nodeId: 'n' });
    await Promise.all(Array.from({ length: 500 }, (_, i) => set(store, `k${i}`, 'first')));
    await store.close();
    // The same engine, opened again and never closed: its last writes have no checkpoint.
    const live = await Store.open({ engine: reopenable(engine), shards: 4, nodeId: 'n' });
    await Promise.all(Array.from({ length: 200 }, (_, i) => set(live, `k${i * 3}`, 'second')));
    await live.truncate();
    await Promise.all(Array.from({ length: 50 }, (_, i) => set(live, `after${i}`, 'x')));
    const crashed = await Store.open({ engine: reopenable(engine), shards: 4, nodeId: 'n' });
    for (let shard = 0; shard < 4; shard++) expect(toHex(crashed.shardRoot(shard))).toBe(recomputedRoot(crashed, shard));
    expect(crashed.liveKeys).toBe(50);
    await crashed.close();
  });

  it('keeps no node record its trees do not use, but for the last checkpoint\'s graveyard', async () => {
    const engine = new MemoryEngine();
    let store = await Store.open({ engine, shards: 2, nodeId: 'n' });
    for (let round = 0; round < 5; round++) {
      await Promise.all(Array.from({ length: 400 }, (_, i) => set(store, `k${i}`, `r${round}`)));
      await Promise.all(Array.from({ length: 40 }, (_, i) => store.update(`k${i * 9}`, (prev, stamp) => remove(prev, stamp))));
    }
    await store.close();
    // A restart makes the graveyard due: the first checkpoint deletes it.
    store = await Store.open({ engine: reopenable(engine), shards: 2, nodeId: 'n' });
    await set(store, 'one-more', 'x');
    await store.close();
    const nodes = (engine as unknown as { nodes: Map<string, Uint8Array> }).nodes;
    // Only the last checkpoint's graveyard is left (its grace has not passed), one per shard at most.
    const graves = [0, 1].map((shard) => [...engine.graves(shard)].map(([, ids]) => [shard, decodeIds(ids)] as const));
    for (const shardGraves of graves) expect(shardGraves.length).toBeLessThanOrEqual(1);
    const reachable = new Set<string>(graves.flat().flatMap(([shard, ids]) => ids.map((id) => `${shard}/${id}`)));
    for (let shard = 0; shard < 2; shard++) {
      const root = engine.getMeta(`tree/${shard}`);
      if (root) collect(shard, Number(Buffer.from(root).readBigUInt64BE(0)));
    }
    function collect(shard: number, id: number): void {
      reachable.add(`${shard}/${id}`);
      for (const child of recordChildIds(nodes.get(`${shard}/${id}`)!)) collect(shard, child);
    }
    expect(new Set(nodes.keys())).toEqual(reachable);
  });
});

function decodeIds(bytes: Uint8Array): number[] {
  const buf = Buffer.from(bytes);
  return Array.from({ length: buf.length / 8 }, (_, i) => Number(buf.readBigUInt64BE(8 * i)));
}

describe('Store tree snapshots', () => {
  it('keeps the node records a snapshot may read while the live tree moves on, and only then', async () => {
    const engine = new MemoryEngine();
    const store = await Store.open({ engine, shards: 1, nodeId: 'n', treeCacheBytes: 0, checkpointDelayMs: 50 });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${i}`, 'first')));
    await eventually('the first checkpoint', () => engine.getMeta('tree/0') !== undefined, 10_000);
    const snapshot = store.shardSnapshot(0);
    const before = [...snapshot.entries()].map((e) => toHex(e.digest));
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${i}`, 'second')));
    // The next checkpoint lists what it freed in a graveyard instead of deleting it.
    await eventually('a graveyard record', () => [...engine.graves(0)].length > 0, 10_000);
    expect([...engine.graves(0)].length).toBeGreaterThan(0);
    expect([...snapshot.entries()].map((e) => toHex(e.digest))).toEqual(before);
    await store.close();
  });
});

describe('Store scrub', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-scrub-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const scrubbed = (options: Omit<Parameters<typeof Store.open>[0], 'onScrubbed'>): Promise<[Store, { keys: number; repaired: number }]> =>
    new Promise((resolve, reject) => {
      let store: Store | undefined;
      let result: { keys: number; repaired: number } | undefined;
      const settle = (): void => {
        if (store && result) resolve([store, result]);
      };
      Store.open({ ...options, scrubDelayMs: 0, onScrubbed: (r) => ((result = r), settle()) }).then((s) => ((store = s), settle()), reject);
    });

  it('leaves out shards that held nothing at the open, and compares them after the next', async () => {
    let fresh: { keys: number; repaired: number } | undefined;
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', scrubDelayMs: 200, onScrubbed: (r) => (fresh = r) });
    // Written before the scrub starts: a scrub of every shard would compare them.
    await Promise.all(Array.from({ length: 500 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    await eventually('the scrub', () => fresh !== undefined, 10_000);
    expect(fresh).toEqual({ keys: 0, repaired: 0 });
    await store.close();
    const [again, reopened] = await scrubbed({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n' });
    expect(reopened).toEqual({ keys: 500, repaired: 0 });
    await again.close();
  });

  it('finds entries lost or rewritten behind its back after open, and makes the trees follow them', async () => {
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n' });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    await store.close();
    const engine = new RocksDbEngine(dir);
    await engine.open();
    const stamp = { hlc: { wall: 1, logical: 0 }, node: 'x' };
    await engine.write(
      [
        { type: 'del', shard: shardOf('k10', 2), key: 'k10' },
        { type: 'put', shard: shardOf('k2000', 2), key: 'k2000', value: Buffer.from([1, 0, 0xde, 0xad]) },
        { type: 'put', shard: shardOf('k2999', 2), key: 'k2999', value: encodeEntry({ type: 'register', stamp, value: Buffer.from('edited') }) },
      ],
      true,
    );
    await engine.close();
    const corrupt: string[] = [];
    const [again, result] = await scrubbed({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', onCorruptRecord: (_, key) => corrupt.push(key) });
    // The lost record and the undecodable one are not compared: 2,998 entries, three keys repaired.
    expect(result).toEqual({ keys: 2998, repaired: 3 });
    expect(corrupt).toContain('k2000');
    for (let shard = 0; shard < 2; shard++) expect(toHex(again.shardRoot(shard))).toBe(recomputedRoot(again, shard));
    await again.close();
  });

  it('rebuilds a tree whose stored nodes are broken from the entries, and keeps serving', async () => {
    const store = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n' });
    await Promise.all(Array.from({ length: 3000 }, (_, i) => set(store, `k${i}`, `v${i}`)));
    const before = roots(store);
    await store.close();
    const engine = new RocksDbEngine(dir);
    await engine.open();
    // The root records of both shards lost.
    const ops = [0, 1].map((shard) => ({ type: 'node-del' as const, shard, id: Number(Buffer.from(engine.getMeta(`tree/${shard}`)!).readBigUInt64BE(0)) }));
    await engine.write(ops, true);
    await engine.close();
    const corrupt: string[] = [];
    const again = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n', onCorruptRecord: (_, key) => corrupt.push(key) });
    // The roots' hashes are in the metadata; the first read below them finds the loss.
    expect(roots(again)).toEqual(before);
    await set(again, 'k1', 'changed');
    await again.close();
    expect(corrupt).toContain('(merkle search tree)');
    const third = await Store.open({ engine: new RocksDbEngine(dir), shards: 2, nodeId: 'n' });
    for (let shard = 0; shard < 2; shard++) expect(toHex(third.shardRoot(shard))).toBe(recomputedRoot(third, shard));
    await third.close();
  });
});
