import { type LoadedOutboxRecord, type PersistOp, type ShardRange, type ShardScan, type StorageEngine } from './engine.js';
import { compareKeys } from './key-order.js';

/**
 * The reference server's in-memory engines (`rwlock`, `kv`): the same records as RocksDB holds,
 * in maps, and nothing survives a restart. For tests and small embedded uses: a scan sorts the
 * shard's keys each time.
 */
export class MemoryEngine implements StorageEngine {
  readonly kind = 'memory';
  private readonly shards = new Map<number, Map<string, Uint8Array>>();
  private readonly meta = new Map<string, Uint8Array>();

  async open(): Promise<void> {}

  getEntries(shard: number, keys: readonly string[]): (Uint8Array | undefined)[] {
    const records = this.shards.get(shard);
    return keys.map((key) => records?.get(key));
  }

  *scan(shard: number, range: ShardRange = {}): ShardScan {
    const records = this.shards.get(shard);
    if (!records) return;
    const prefix = range.prefix ?? '';
    const after = range.after;
    const keys = [...records.keys()].filter((key) => key.startsWith(prefix) && (after === undefined || compareKeys(key, after) > 0)).sort(compareKeys);
    // The values as of now: a later write replaces a map value, never the bytes of this one.
    const view = keys.map((key) => [key, records.get(key)!] as const);
    yield* view;
  }

  async *loadOutbox(): AsyncIterable<LoadedOutboxRecord> {}

  async write(ops: readonly PersistOp[], _sync: boolean): Promise<void> {
    for (const op of ops) {
      switch (op.type) {
        case 'put':
          this.records(op.shard).set(op.key, op.value);
          break;
        case 'del':
          this.shards.get(op.shard)?.delete(op.key);
          break;
        case 'meta-put':
          this.meta.set(op.name, op.value);
          break;
        default:
          // The outbox lives in memory only (nothing to recover after a restart of this engine).
          break;
      }
    }
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.meta.get(name);
  }

  memoryBytes(): number {
    return 0;
  }

  async close(): Promise<void> {}

  private records(shard: number): Map<string, Uint8Array> {
    let records = this.shards.get(shard);
    if (!records) this.shards.set(shard, (records = new Map()));
    return records;
  }
}
