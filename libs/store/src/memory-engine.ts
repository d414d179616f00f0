import { type ExpiringKey, type LoadedOutboxRecord, type OutboxSpan, type PersistOp, type ShardRange, type ShardScan, type SnapshotRecord, type StorageEngine } from './engine.js';
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
  private readonly nodes = new Map<string, Uint8Array>();
  private readonly pending = new Map<number, Set<string>>();
  private readonly tombstones = new Map<number, Set<string>>();
  /** Per shard: `at/key` -> the record. */
  private readonly expiring = new Map<number, Map<string, ExpiringKey>>();
  private readonly graveyard = new Map<number, Map<number, Uint8Array>>();
  private readonly outbox = new Map<bigint, Uint8Array>();

  async open(): Promise<void> {}

  getEntries(shards: readonly number[], keys: readonly string[]): (Uint8Array | undefined)[] {
    return keys.map((key, i) => this.shards.get(shards[i]!)?.get(key));
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

  *snapshot(): Generator<SnapshotRecord, void, undefined> {
    // Copied at the first step, so that later writes do not show.
    const records: SnapshotRecord[] = [];
    for (const shard of [...this.shards.keys()].sort((a, b) => a - b)) {
      for (const [key, value] of this.scan(shard)) records.push({ kind: 'entry', shard, key, value });
    }
    for (const [name, value] of [...this.meta].sort(([a], [b]) => compareKeys(a, b))) records.push({ kind: 'meta', name, value });
    yield* records;
  }

  outboxRecords(afterSeq: bigint | undefined, limit: number): LoadedOutboxRecord[] {
    const seqs = [...this.outbox.keys()].filter((seq) => afterSeq === undefined || seq > afterSeq).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return seqs.slice(0, Math.max(0, limit)).map((seq) => ({ seq, value: this.outbox.get(seq)! }));
  }

  outboxSpan(): OutboxSpan {
    let lastSeq: bigint | undefined;
    for (const seq of this.outbox.keys()) if (lastSeq === undefined || seq > lastSeq) lastSeq = seq;
    return { count: this.outbox.size, lastSeq };
  }

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
        case 'meta-del':
          this.meta.delete(op.name);
          break;
        case 'node-put':
          this.nodes.set(`${op.shard}/${op.id}`, op.value);
          break;
        case 'node-del':
          this.nodes.delete(`${op.shard}/${op.id}`);
          break;
        case 'pending-put':
          of(this.pending, op.shard, () => new Set<string>()).add(op.key);
          break;
        case 'pending-del':
          this.pending.get(op.shard)?.delete(op.key);
          break;
        case 'tomb-put':
          of(this.tombstones, op.shard, () => new Set<string>()).add(op.key);
          break;
        case 'tomb-del':
          this.tombstones.get(op.shard)?.delete(op.key);
          break;
        case 'expiry-put':
          of(this.expiring, op.shard, () => new Map<string, ExpiringKey>()).set(`${op.at}/${op.key}`, { at: op.at, key: op.key });
          break;
        case 'expiry-del':
          this.expiring.get(op.shard)?.delete(`${op.at}/${op.key}`);
          break;
        case 'grave-put':
          of(this.graveyard, op.shard, () => new Map<number, Uint8Array>()).set(op.seq, op.value);
          break;
        case 'grave-del':
          this.graveyard.get(op.shard)?.delete(op.seq);
          break;
        case 'outbox-put':
          this.outbox.set(op.seq, op.value);
          break;
        case 'outbox-del':
          this.outbox.delete(op.seq);
          break;
      }
    }
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.meta.get(name);
  }

  getNode(shard: number, id: number): Uint8Array | undefined {
    return this.nodes.get(`${shard}/${id}`);
  }

  pendingKeys(shard: number): Generator<string, void, undefined> {
    return sortedKeys(this.pending.get(shard));
  }

  async dropPendingMarkers(): Promise<void> {
    this.pending.clear();
  }

  tombstoneKeys(shard: number): Generator<string, void, undefined> {
    return sortedKeys(this.tombstones.get(shard));
  }

  expiringKeys(shard: number, until: number, limit: number): ExpiringKey[] {
    const due = [...(this.expiring.get(shard)?.values() ?? [])].filter((record) => record.at <= until);
    due.sort((a, b) => a.at - b.at || compareKeys(a.key, b.key));
    return due.slice(0, Math.max(0, limit));
  }

  *graves(shard: number): Generator<readonly [seq: number, value: Uint8Array], void, undefined> {
    yield* [...(this.graveyard.get(shard) ?? [])].sort((a, b) => a[0] - b[0]);
  }

  /** Nothing to reopen: memory does not fail a write. */
  async recover(): Promise<void> {}

  recoveryBlocker(): string | undefined {
    return undefined;
  }

  memoryBytes(): number {
    return 0;
  }

  async close(): Promise<void> {}

  private records(shard: number): Map<string, Uint8Array> {
    return of(this.shards, shard, () => new Map<string, Uint8Array>());
  }
}

function of<V>(map: Map<number, V>, shard: number, make: () => V): V {
  let value = map.get(shard);
  if (value === undefined) map.set(shard, (value = make()));
  return value;
}

function* sortedKeys(keys: ReadonlySet<string> | undefined): Generator<string, void, undefined> {
  yield* [...(keys ?? [])].sort(compareKeys);
}
