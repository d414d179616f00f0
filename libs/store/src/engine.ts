/**
 * The persistence port of the store. The engine is the keyspace: every entry lives in it, and
 * the store reads through a bounded cache of decoded entries. Writes are one atomic batch per
 * commit group. Reads are synchronous (the RocksDB binding's multi-get and iterator steps are
 * native calls that return at once): the command layer answers reads in the turn that asked,
 * and a read never sees a batch that is not yet written. Values are opaque bytes to the engine.
 */
export type PersistOp =
  | { readonly type: 'put'; readonly shard: number; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly shard: number; readonly key: string }
  | { readonly type: 'outbox-put'; readonly seq: bigint; readonly value: Uint8Array }
  | { readonly type: 'outbox-del'; readonly seq: bigint }
  | { readonly type: 'meta-put'; readonly name: string; readonly value: Uint8Array }
  | { readonly type: 'meta-del'; readonly name: string }
  /** A Merkle Search Tree node's record. */
  | { readonly type: 'node-put'; readonly shard: number; readonly id: number; readonly value: Uint8Array }
  | { readonly type: 'node-del'; readonly shard: number; readonly id: number }
  /** A key whose change the stored tree does not cover yet. */
  | { readonly type: 'pending-put'; readonly shard: number; readonly key: string }
  | { readonly type: 'pending-del'; readonly shard: number; readonly key: string }
  /** The index of a shard's tombstones: what tombstone collection visits. */
  | { readonly type: 'tomb-put'; readonly shard: number; readonly key: string }
  | { readonly type: 'tomb-del'; readonly shard: number; readonly key: string }
  /** The index of a shard's expiring entries, by expiry time (ms): what the expiry sweeper reads. */
  | { readonly type: 'expiry-put'; readonly shard: number; readonly at: number; readonly key: string }
  | { readonly type: 'expiry-del'; readonly shard: number; readonly at: number; readonly key: string }
  /** Node records a checkpoint stopped using, kept a while for snapshots still reading them. */
  | { readonly type: 'grave-put'; readonly shard: number; readonly seq: number; readonly value: Uint8Array }
  | { readonly type: 'grave-del'; readonly shard: number; readonly seq: number };

/** A record of the expiry index: a key and when its entry expires. */
export interface ExpiringKey {
  readonly at: number;
  readonly key: string;
}

export interface OutboxSpan {
  readonly count: number;
  readonly lastSeq: bigint | undefined;
}

export interface LoadedOutboxRecord {
  readonly seq: bigint;
  readonly value: Uint8Array;
}

/** Which records of a shard a scan visits: keys starting with `prefix`, strictly after `after`. */
export interface ShardRange {
  readonly prefix?: string;
  readonly after?: string;
}

/**
 * A shard's records in key byte order, as they were when the scan was made (later writes do
 * not show). Iterate it to the end or break out of the loop: either releases what it holds.
 */
export type ShardScan = Generator<readonly [key: string, value: Uint8Array], void, undefined>;

/** A record of {@link StorageEngine.snapshot}: a shard's stored entry, or a metadata record. */
export type SnapshotRecord =
  | { readonly kind: 'entry'; readonly shard: number; readonly key: string; readonly value: Uint8Array }
  | { readonly kind: 'meta'; readonly name: string; readonly value: Uint8Array };

export interface StorageEngine {
  /** Human name for INFO and logs. */
  readonly kind: 'rocksdb' | 'memory';
  open(): Promise<void>;
  /** The stored records of keys (`keys[i]` of shard `shards[i]`), undefined where absent; one native call. */
  getEntries(shards: readonly number[], keys: readonly string[]): (Uint8Array | undefined)[];
  /** A consistent, lazily read view of a shard's records in key byte order. */
  scan(shard: number, range?: ShardRange): ShardScan;
  /**
   * Every shard's entry records (shard by shard, each in key byte order), then every metadata
   * record, from one consistent view of the whole engine: one point in time across all shards,
   * which an online backup copies while writes go on. Read lazily, like {@link scan}.
   */
  snapshot(): Generator<SnapshotRecord, void, undefined>;
  /** Outbox records with seq above `afterSeq` (all when undefined), ascending, at most `limit`. */
  outboxRecords(afterSeq: bigint | undefined, limit: number): LoadedOutboxRecord[];
  /** How many outbox records are stored, and the highest seq (a pass over them: they are few unless NATS was away). */
  outboxSpan(): OutboxSpan;
  /** Applies all ops atomically; resolves once durable (to the OS, or to disk when `sync`). */
  write(ops: readonly PersistOp[], sync: boolean): Promise<void>;
  getMeta(name: string): Uint8Array | undefined;
  /** A tree node's record. */
  getNode(shard: number, id: number): Uint8Array | undefined;
  /** The keys a shard's stored tree does not cover yet, in key order. */
  pendingKeys(shard: number): Generator<string, void, undefined>;
  /**
   * Removes every pending-key marker at once. The store calls it when no marker is live (a clean
   * close), so that the next open's scan of the markers does not step over the deletions of all
   * the earlier ones: an LSM tree keeps a deleted key's marker until compaction reaches it.
   */
  dropPendingMarkers(): Promise<void>;
  /** The keys of a shard's tombstones, in key order. */
  tombstoneKeys(shard: number): Generator<string, void, undefined>;
  /**
   * A shard's expiring keys whose expiry time is at most `until` (ms), earliest first, at most
   * `limit`: a bounded read of the expiry index, however many keys expire later.
   */
  expiringKeys(shard: number, until: number, limit: number): ExpiringKey[];
  /** A shard's graveyard records (seq, ids), ascending seq. */
  graves(shard: number): Generator<readonly [seq: number, value: Uint8Array], void, undefined>;
  /**
   * Makes the engine take writes again after a failed one: RocksDB refuses every write after a
   * failure (a full disk, no file descriptors) until it is reopened. Reads fail while it runs.
   */
  recover(): Promise<void>;
  /** Why {@link recover} cannot succeed yet (the disk is still full...), or undefined when it may. */
  recoveryBlocker(): string | undefined;
  /** Bytes held by the engine's own caches and write buffers (0 when it keeps none). */
  memoryBytes(): number;
  close(): Promise<void>;
}

/** The smallest string above every string that starts with `prefix` in UTF-8 byte order, as bytes; undefined when none. */
export function prefixEnd(prefix: Uint8Array): Uint8Array | undefined {
  const end = Uint8Array.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return undefined;
}
