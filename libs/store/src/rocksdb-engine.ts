import { RocksLevel } from '@nxtedition/rocksdb';
import { type LoadedOutboxRecord, type PersistOp, prefixEnd, type ShardRange, type ShardScan, type StorageEngine } from './engine.js';

/**
 * Key layout in the one RocksDB of a node (big-endian, so ranges are contiguous and ordered):
 *
 *   'e' shard:u16 key:utf8  -> encoded CRDT entry
 *   'o' seq:u64             -> outbox record (a local change not yet acknowledged by NATS)
 *   'm' name:utf8           -> store metadata (format, node id, shard count, floors, counters, outbox sequence)
 *
 * Within a shard, records sort by the key's UTF-8 bytes: the protocol's key order, so a scan of
 * a shard needs no sorting.
 */
const ENTRY = 0x65;
const META = 0x6d;
const OUTBOX = 0x6f;

/** Rows a scan reads per native call: small first (a SCAN page wants few), larger while it goes on. */
const FIRST_SCAN_CHUNK = 64;
const SCAN_CHUNK = 1024;

function entryKey(shard: number, key: string): Buffer {
  const len = Buffer.byteLength(key);
  const out = Buffer.allocUnsafe(3 + len);
  out[0] = ENTRY;
  out.writeUInt16BE(shard, 1);
  out.write(key, 3, 'utf8');
  return out;
}

function shardStart(shard: number): Buffer {
  const out = Buffer.allocUnsafe(3);
  out[0] = ENTRY;
  out.writeUInt16BE(shard, 1);
  return out;
}

function outboxKey(seq: bigint): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = OUTBOX;
  out.writeBigUInt64BE(seq, 1);
  return out;
}

const metaKey = (name: string): Buffer => Buffer.concat([Buffer.from([META]), Buffer.from(name, 'utf8')]);

export interface RocksDbEngineOptions {
  /** Bytes of RocksDB's block cache (uncompressed data, index and filter blocks). Default 64 MiB. */
  readonly blockCacheBytes?: number;
}

export class RocksDbEngine implements StorageEngine {
  readonly kind = 'rocksdb';
  private readonly db: RocksLevel;
  private readonly blockCacheBytes: number;

  constructor(
    readonly location: string,
    options: RocksDbEngineOptions = {},
  ) {
    this.db = new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    this.blockCacheBytes = options.blockCacheBytes ?? 64 * 1024 * 1024;
  }

  async open(): Promise<void> {
    // Index and filter blocks live in the block cache too, so that the cache bounds them: a
    // table reader's memory otherwise grows with the data.
    await this.db.open({ createIfMissing: true, cacheSize: this.blockCacheBytes, cacheIndexAndFilterBlocks: true });
  }

  getEntries(shard: number, keys: readonly string[]): (Uint8Array | undefined)[] {
    return this.db._getManySync(keys.map((key) => entryKey(shard, key)));
  }

  *scan(shard: number, range: ShardRange = {}): ShardScan {
    const start = shardStart(shard);
    const prefix = Buffer.from(range.prefix ?? '', 'utf8');
    const lower = Buffer.concat([start, prefix]);
    const end = prefixEnd(prefix);
    const upper = end === undefined ? shardStart(shard + 1) : Buffer.concat([start, end]);
    const after = range.after === undefined ? undefined : entryKey(shard, range.after);
    const bounds = after !== undefined && Buffer.compare(after, lower) >= 0 ? { gt: after, lt: upper } : { gte: lower, lt: upper };
    const it = this.db.iterator(bounds);
    try {
      let chunk = FIRST_SCAN_CHUNK;
      for (;;) {
        const { rows, finished } = it._nextvSync(chunk, {});
        for (let i = 0; i < rows.length; i += 2) yield [rows[i]!.toString('utf8', 3), rows[i + 1]!] as const;
        if (finished || rows.length === 0) return;
        chunk = SCAN_CHUNK;
      }
    } finally {
      void it.close();
    }
  }

  async *loadOutbox(): AsyncIterable<LoadedOutboxRecord> {
    const it = this.db.iterator({ gte: Buffer.from([OUTBOX]), lt: Buffer.from([OUTBOX + 1]) });
    try {
      for (;;) {
        const rows = await it.nextv(4096);
        if (rows.length === 0) return;
        for (const [key, value] of rows) yield { seq: key.readBigUInt64BE(1), value };
      }
    } finally {
      await it.close();
    }
  }

  async write(ops: readonly PersistOp[], sync: boolean): Promise<void> {
    const batch = this.db.batch();
    for (const op of ops) {
      switch (op.type) {
        case 'put':
          batch.put(entryKey(op.shard, op.key), op.value);
          break;
        case 'del':
          batch.del(entryKey(op.shard, op.key));
          break;
        case 'outbox-put':
          batch.put(outboxKey(op.seq), op.value);
          break;
        case 'outbox-del':
          batch.del(outboxKey(op.seq));
          break;
        case 'meta-put':
          batch.put(metaKey(op.name), op.value);
          break;
      }
    }
    await batch.write({ sync });
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.db._getManySync([metaKey(name)])[0] ?? undefined;
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
    await this.db.close();
  }
}
