import { closeSync, openSync, readdirSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type RangeOptions, RocksLevel } from '@nxtedition/rocksdb';
import { openFailure, StoreError } from './errors.js';
import {
  type ExpiringKey,
  type LoadedOutboxRecord,
  type OutboxSpan,
  type PersistOp,
  prefixEnd,
  type ShardRange,
  type ShardScan,
  type SnapshotRecord,
  type StorageEngine,
} from './engine.js';
import { type BatchRecord, RocksDbWriter } from './rocksdb-writer.js';

/**
 * Key layout in the one RocksDB of a node (big-endian, so ranges are contiguous and ordered):
 *
 *   'e' shard:u16 key:utf8  -> encoded CRDT entry
 *   'o' seq:u64             -> outbox record (a local change not yet acknowledged by NATS)
 *   'm' name:utf8           -> store metadata (format, node id, shard count, floors, counters, outbox sequence)
 *   't' shard:u16 id:u64    -> a Merkle Search Tree node
 *   'p' shard:u16 key:utf8  -> a key the stored tree does not cover yet
 *   'g' shard:u16 seq:u64   -> tree node ids kept for snapshots (a graveyard)
 *   'x' shard:u16 key:utf8  -> a key whose entry is a tombstone (the index tombstone collection reads)
 *   'y' shard:u16 at:u48 key:utf8 -> a key whose entry expires at `at` (ms; the index the expiry sweeper reads)
 *
 * Within a shard, records sort by the key's UTF-8 bytes: the protocol's key order, so a scan of
 * a shard needs no sorting.
 */
const ENTRY = 0x65;
const GRAVE = 0x67;
const META = 0x6d;
const OUTBOX = 0x6f;
const PENDING = 0x70;
const NODE = 0x74;
const TOMBSTONE = 0x78;
const EXPIRING = 0x79;
/** The latest expiry time an entry carries (ms: 48 bits, as the hybrid clock's wall). */
const MAX_EXPIRY = 2 ** 48 - 1;

/** Rows a scan reads per native call: small first (a SCAN page wants few), larger while it goes on. */
const FIRST_SCAN_CHUNK = 64;
const MEMTABLE_BUDGET_BYTES = 64 * 1024 * 1024;
/**
 * Free space a reopen needs beyond the write-ahead logs it replays: the flush of what it replays
 * and a new log (RocksDB preallocates about a memtable's size for one).
 */
const REOPEN_HEADROOM_BYTES = MEMTABLE_BUDGET_BYTES / 2;
/** File descriptors a reopen needs at least (the logs, the manifest, a table or two). */
const REOPEN_DESCRIPTORS = 16;
const EMPTY = Buffer.alloc(0);
const SCAN_CHUNK = 1024;

/** `tag shard:u16 key:utf8`: entries, and pending tree keys. */
function shardKey(tag: number, shard: number, key: string): Buffer {
  const len = Buffer.byteLength(key);
  const out = Buffer.allocUnsafe(3 + len);
  out[0] = tag;
  out.writeUInt16BE(shard, 1);
  out.write(key, 3, 'utf8');
  return out;
}

/** `tag shard:u16 n:u64`: tree nodes by id, graveyard records by seq. */
function shardNumber(tag: number, shard: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(11);
  out[0] = tag;
  out.writeUInt16BE(shard, 1);
  out.writeBigUInt64BE(BigInt(n), 3);
  return out;
}

function shardStart(tag: number, shard: number): Buffer {
  const out = Buffer.allocUnsafe(3);
  out[0] = tag;
  out.writeUInt16BE(shard, 1);
  return out;
}

const entryKey = (shard: number, key: string): Buffer => shardKey(ENTRY, shard, key);

/** `'y' shard:u16 at:u48 key:utf8`: by time, then key. */
function expiringKey(shard: number, at: number, key: string): Buffer {
  const len = Buffer.byteLength(key);
  const out = Buffer.allocUnsafe(9 + len);
  out[0] = EXPIRING;
  out.writeUInt16BE(shard, 1);
  out.writeUIntBE(at, 3, 6);
  out.write(key, 9, 'utf8');
  return out;
}

function outboxKey(seq: bigint): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = OUTBOX;
  out.writeBigUInt64BE(seq, 1);
  return out;
}

const metaKey = (name: string): Buffer => Buffer.concat([Buffer.from([META]), Buffer.from(name, 'utf8')]);

/** The RocksDB record an operation writes: its key, and its value (none for a deletion). */
function record(op: PersistOp): BatchRecord {
  switch (op.type) {
    case 'put':
      return [entryKey(op.shard, op.key), op.value];
    case 'del':
      return [entryKey(op.shard, op.key), undefined];
    case 'outbox-put':
      return [outboxKey(op.seq), op.value];
    case 'outbox-del':
      return [outboxKey(op.seq), undefined];
    case 'meta-put':
      return [metaKey(op.name), op.value];
    case 'meta-del':
      return [metaKey(op.name), undefined];
    case 'node-put':
      return [shardNumber(NODE, op.shard, op.id), op.value];
    case 'node-del':
      return [shardNumber(NODE, op.shard, op.id), undefined];
    case 'pending-put':
      return [shardKey(PENDING, op.shard, op.key), EMPTY];
    case 'pending-del':
      return [shardKey(PENDING, op.shard, op.key), undefined];
    case 'tomb-put':
      return [shardKey(TOMBSTONE, op.shard, op.key), EMPTY];
    case 'tomb-del':
      return [shardKey(TOMBSTONE, op.shard, op.key), undefined];
    case 'expiry-put':
      return [expiringKey(op.shard, op.at, op.key), EMPTY];
    case 'expiry-del':
      return [expiringKey(op.shard, op.at, op.key), undefined];
    case 'grave-put':
      return [shardNumber(GRAVE, op.shard, op.seq), op.value];
    case 'grave-del':
      return [shardNumber(GRAVE, op.shard, op.seq), undefined];
  }
}

export interface RocksDbEngineOptions {
  /** Bytes of RocksDB's block cache (uncompressed data, index and filter blocks). Default 64 MiB. */
  readonly blockCacheBytes?: number;
}

export class RocksDbEngine implements StorageEngine {
  readonly kind = 'rocksdb';
  private db: RocksLevel;
  private readonly blockCacheBytes: number;
  private readonly writer = new RocksDbWriter();
  /** Set from the start of {@link recover}: the handle is about to be closed, or is being reopened. */
  private reopening = false;

  constructor(
    readonly location: string,
    options: RocksDbEngineOptions = {},
  ) {
    this.db = this.handle();
    this.blockCacheBytes = options.blockCacheBytes ?? 64 * 1024 * 1024;
  }

  private handle(): RocksLevel {
    return new RocksLevel(this.location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  }

  /**
   * The handle, for the binding's synchronous calls, which skip the status checks of its
   * asynchronous API: one on a handle that {@link recover} is closing or opening reaches a freed
   * native database and kills the process (SIGSEGV), so it is refused here instead.
   */
  private openHandle(): RocksLevel {
    if (this.reopening || this.db.status !== 'open') {
      throw new StoreError('STORAGE', `the storage is ${this.reopening || this.db.status === 'opening' ? 'reopening after a failure' : 'closed'}`);
    }
    return this.db;
  }

  async open(): Promise<void> {
    // Index and filter blocks live in the block cache too, so that the cache bounds them: a
    // table reader's memory otherwise grows with the data. Level compaction with a 64 MiB write
    // buffer budget (16 MiB memtables): RocksDB replays the unflushed memtables' WAL at every
    // open, so their size is what a restart costs, whatever the data's size.
    //
    // Tuned for point lookups: most of a write's reads look for a key nobody wrote yet (its
    // commit group reads the stored entry first), and a memtable's own filter answers those
    // without a search of each memtable's skip list (memaslap 10% get / 90% set: 17,324-17,882
    // against 16,484-16,720 TPS, alternated). The other parts of the preset cost nothing there:
    // a hash index in each data block for the reads that reach the tables, and Ribbon filters
    // (about 30% smaller than Bloom's for the same false positives) below level 0. Tables
    // written before keep their own filters and indexes, which RocksDB reads alike.
    try {
      await this.db.open({
        createIfMissing: true,
        cacheSize: this.blockCacheBytes,
        cacheIndexAndFilterBlocks: true,
        compaction: 'level',
        memtableMemoryBudget: MEMTABLE_BUDGET_BYTES,
        optimize: 'point-lookup',
      });
    } catch (err) {
      throw openFailure(this.location, err);
    }
    this.writer.attach(this.db.handle);
  }

  /**
   * After a failed write RocksDB keeps refusing writes (its background error) until the
   * database is reopened. Closing reports that same error, yet the native database is gone
   * and its lock released; a new handle opens the directory again, replaying the log.
   */
  async recover(): Promise<void> {
    this.reopening = true;
    try {
      await this.writer.drained();
      this.writer.detach();
      try {
        await this.db.close();
      } catch {
        // see above
      }
      this.db = this.handle();
      await this.open();
    } finally {
      this.reopening = false;
    }
  }

  recoveryBlocker(): string | undefined {
    let logBytes = 0;
    try {
      for (const name of readdirSync(this.location)) {
        if (name.endsWith('.log')) logBytes += statSync(join(this.location, name)).size;
      }
      const fs = statfsSync(this.location);
      const free = fs.bavail * fs.bsize;
      const needed = logBytes + REOPEN_HEADROOM_BYTES;
      if (free < needed) return `${mib(free)} free on the data directory's file system, a reopen needs ${mib(needed)}`;
    } catch (err) {
      return `cannot inspect the data directory: ${(err as Error).message}`;
    }
    const descriptors: number[] = [];
    try {
      for (let i = 0; i < REOPEN_DESCRIPTORS; i++) descriptors.push(openSync('/dev/null', 'r'));
    } catch (err) {
      return `the process cannot open files (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`;
    } finally {
      for (const fd of descriptors) closeSync(fd);
    }
    return undefined;
  }

  getEntries(shards: readonly number[], keys: readonly string[]): (Uint8Array | undefined)[] {
    return this.openHandle()._getManySync(keys.map((key, i) => entryKey(shards[i]!, key)));
  }

  *scan(shard: number, range: ShardRange = {}): ShardScan {
    const start = shardStart(ENTRY, shard);
    const prefix = Buffer.from(range.prefix ?? '', 'utf8');
    const lower = Buffer.concat([start, prefix]);
    const end = prefixEnd(prefix);
    const upper = end === undefined ? shardStart(ENTRY, shard + 1) : Buffer.concat([start, end]);
    const after = range.after === undefined ? undefined : entryKey(shard, range.after);
    const bounds = after !== undefined && Buffer.compare(after, lower) >= 0 ? { gt: after, lt: upper } : { gte: lower, lt: upper };
    for (const [key, value] of this.rows(bounds)) yield [key.toString('utf8', 3), value] as const;
  }

  *snapshot(): Generator<SnapshotRecord, void, undefined> {
    // Entries ('e'), graveyard ('g') and metadata ('m') sort together: one iterator, one view.
    for (const [key, value] of this.rows({ gte: Buffer.from([ENTRY]), lt: Buffer.from([META + 1]) })) {
      if (key[0] === ENTRY) yield { kind: 'entry', shard: key.readUInt16BE(1), key: key.toString('utf8', 3), value };
      else if (key[0] === META) yield { kind: 'meta', name: key.toString('utf8', 1), value };
    }
  }

  pendingKeys(shard: number): Generator<string, void, undefined> {
    return this.keysOf(PENDING, shard);
  }

  async dropPendingMarkers(): Promise<void> {
    await this.writer.drained();
    // One range deletion: iterators skip what it covers instead of stepping over each deleted marker.
    await this.openHandle().clear({ gte: Buffer.from([PENDING]), lt: Buffer.from([PENDING + 1]) });
  }

  tombstoneKeys(shard: number): Generator<string, void, undefined> {
    return this.keysOf(TOMBSTONE, shard);
  }

  private *keysOf(tag: number, shard: number): Generator<string, void, undefined> {
    for (const [key] of this.rows({ gte: shardStart(tag, shard), lt: shardStart(tag, shard + 1) })) yield key.toString('utf8', 3);
  }

  expiringKeys(shard: number, until: number, limit: number): ExpiringKey[] {
    const found: ExpiringKey[] = [];
    if (limit <= 0) return found;
    // Everything of the shard up to `until` inclusive: the next millisecond bounds the range.
    const upper = until < MAX_EXPIRY ? expiringKey(shard, until + 1, '') : shardStart(EXPIRING, shard + 1);
    for (const [key] of this.rows({ gte: shardStart(EXPIRING, shard), lt: upper })) {
      found.push({ at: key.readUIntBE(3, 6), key: key.toString('utf8', 9) });
      if (found.length >= limit) break;
    }
    return found;
  }

  *graves(shard: number): Generator<readonly [seq: number, value: Uint8Array], void, undefined> {
    for (const [key, value] of this.rows({ gte: shardStart(GRAVE, shard), lt: shardStart(GRAVE, shard + 1) })) {
      yield [Number(key.readBigUInt64BE(3)), value] as const;
    }
  }

  getNode(shard: number, id: number): Uint8Array | undefined {
    return this.openHandle()._getManySync([shardNumber(NODE, shard, id)])[0] ?? undefined;
  }

  /** A range's rows in key order, read synchronously a chunk at a time from one iterator (a consistent view). */
  private *rows(bounds: RangeOptions): Generator<readonly [Buffer, Buffer], void, undefined> {
    const db = this.openHandle();
    const it = db.iterator(bounds);
    try {
      let chunk = FIRST_SCAN_CHUNK;
      for (;;) {
        // A reader may pause between chunks while the handle is replaced: its iterator is gone then.
        if (db !== this.openHandle()) throw new StoreError('STORAGE', 'the storage was reopened during a scan');
        const { rows, finished } = it._nextvSync(chunk, {});
        for (let i = 0; i < rows.length; i += 2) yield [rows[i]!, rows[i + 1]!] as const;
        if (finished || rows.length === 0) return;
        chunk = SCAN_CHUNK;
      }
    } finally {
      void it.close();
    }
  }

  outboxRecords(afterSeq: bigint | undefined, limit: number): LoadedOutboxRecord[] {
    const records: LoadedOutboxRecord[] = [];
    if (limit <= 0) return records;
    const lower = afterSeq === undefined ? { gte: Buffer.from([OUTBOX]) } : { gt: outboxKey(afterSeq) };
    for (const [key, value] of this.rows({ ...lower, lt: Buffer.from([OUTBOX + 1]) })) {
      records.push({ seq: key.readBigUInt64BE(1), value });
      if (records.length >= limit) break;
    }
    return records;
  }

  outboxSpan(): OutboxSpan {
    let count = 0;
    let lastSeq: bigint | undefined;
    for (const [key] of this.rows({ gte: Buffer.from([OUTBOX]), lt: Buffer.from([OUTBOX + 1]) })) {
      count++;
      lastSeq = key.readBigUInt64BE(1);
    }
    return { count, lastSeq };
  }

  async write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    this.openHandle();
    await this.writer.write(ops.map(record), sync);
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.openHandle()._getManySync([metaKey(name)])[0] ?? undefined;
  }

  memoryBytes(): number {
    if (this.db.status !== 'open') return 0;
    let total = 0;
    for (const property of ['rocksdb.block-cache-usage', 'rocksdb.cur-size-all-mem-tables', 'rocksdb.estimate-table-readers-mem']) {
      total += Number(this.db.getProperty(property)) || 0;
    }
    return total;
  }

  async close(): Promise<void> {
    await this.writer.drained();
    await this.writer.stop();
    await this.db.close();
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
