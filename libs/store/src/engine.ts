/**
 * The persistence port of the store. The store keeps every shard's entries (and the unsent
 * outbox) in memory and uses the engine as its durable record: one atomic batch per commit
 * group, and a full load at open. Values are opaque bytes to the engine.
 */
export type PersistOp =
  | { readonly type: 'put'; readonly shard: number; readonly key: string; readonly value: Uint8Array }
  | { readonly type: 'del'; readonly shard: number; readonly key: string }
  | { readonly type: 'outbox-put'; readonly seq: bigint; readonly value: Uint8Array }
  | { readonly type: 'outbox-del'; readonly seq: bigint }
  | { readonly type: 'meta-put'; readonly name: string; readonly value: Uint8Array };

export interface LoadedRecord {
  readonly shard: number;
  readonly key: string;
  readonly value: Uint8Array;
}

export interface LoadedOutboxRecord {
  readonly seq: bigint;
  readonly value: Uint8Array;
}

export interface StorageEngine {
  /** Human name for INFO and logs. */
  readonly kind: 'rocksdb' | 'memory';
  open(): Promise<void>;
  /** Every stored entry record, in any order. */
  load(): AsyncIterable<LoadedRecord>;
  /** Every outbox record, in ascending seq order. */
  loadOutbox(): AsyncIterable<LoadedOutboxRecord>;
  /** Applies all ops atomically; resolves once durable (to the OS, or to disk when `sync`). */
  write(ops: readonly PersistOp[], sync: boolean): Promise<void>;
  getMeta(name: string): Promise<Uint8Array | undefined>;
  close(): Promise<void>;
}
