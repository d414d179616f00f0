import { RocksLevel } from '@nxtedition/rocksdb';
import { type LoadedOutboxRecord, type LoadedRecord, type PersistOp, type StorageEngine } from './engine.js';

/**
 * Key layout in the one RocksDB of a node (big-endian, so ranges are contiguous and ordered):
 *
 *   'e' shard:u16 key:utf8  -> encoded CRDT entry
 *   'o' seq:u64             -> outbox record (a local change not yet acknowledged by NATS)
 *   'm' name:utf8           -> store metadata (node id, shard count, floors, outbox sequence)
 */
const ENTRY = 0x65;
const META = 0x6d;
const OUTBOX = 0x6f;

function entryKey(shard: number, key: string): Buffer {
  const len = Buffer.byteLength(key);
  const out = Buffer.allocUnsafe(3 + len);
  out[0] = ENTRY;
  out.writeUInt16BE(shard, 1);
  out.write(key, 3, 'utf8');
  return out;
}

function outboxKey(seq: bigint): Buffer {
  const out = Buffer.allocUnsafe(9);
  out[0] = OUTBOX;
  out.writeBigUInt64BE(seq, 1);
  return out;
}

const metaKey = (name: string): Buffer => Buffer.concat([Buffer.from([META]), Buffer.from(name, 'utf8')]);

export class RocksDbEngine implements StorageEngine {
  readonly kind = 'rocksdb';
  private readonly db: RocksLevel;

  constructor(readonly location: string) {
    this.db = new RocksLevel(location, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
  }

  async open(): Promise<void> {
    await this.db.open({ createIfMissing: true });
  }

  async *load(): AsyncIterable<LoadedRecord> {
    for await (const [key, value] of this.range(ENTRY)) {
      yield { shard: key.readUInt16BE(1), key: key.toString('utf8', 3), value };
    }
  }

  async *loadOutbox(): AsyncIterable<LoadedOutboxRecord> {
    for await (const [key, value] of this.range(OUTBOX)) yield { seq: key.readBigUInt64BE(1), value };
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

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    const [value] = await this.db.getMany([metaKey(name)]);
    return value ?? undefined;
  }

  async close(): Promise<void> {
    await this.db.close();
  }

  private async *range(tag: number): AsyncIterable<[Buffer, Buffer]> {
    const it = this.db.iterator({ gte: Buffer.from([tag]), lt: Buffer.from([tag + 1]) });
    try {
      for (;;) {
        const rows = await it.nextv(4096);
        if (rows.length === 0) return;
        yield* rows;
      }
    } finally {
      await it.close();
    }
  }
}
