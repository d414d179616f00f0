import { type Entry, isLiveAt, type Mutation, type Stamp } from '#crdt';
import { compareKeys } from './key-order.js';
import { type Shard } from './shard.js';

/**
 * Computes a key's next state from its current one: a mutation, or undefined to leave the key
 * as it is. May throw to refuse the change; the error reaches the caller and nothing is written.
 */
export type Update = (prev: Entry | undefined, stamp: Stamp) => Mutation | undefined;

/** How a queued read or write is answered, once its result is known. */
export interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

/** A committed change, as watchers see it: a key's new entry, or a shard's truncation. */
export type CommitEvent =
  | { readonly kind: 'entry'; readonly shard: number; readonly key: string; readonly entry: Entry }
  | { readonly kind: 'truncate'; readonly shard: number };

/**
 * The keyspace as the command layer sees it: the whole store, or a scope of some of its shards
 * (what one store-shard process serves to gateways, one shard per subject). Scans stream from
 * storage in key order and hold a few rows per shard at a time.
 */
export interface Keyspace {
  /** The committed entry of a key, tombstones included. */
  read(key: string): Entry | undefined;
  /** The committed entries of several keys, in their order: one storage call for the cache's misses. */
  readMany(keys: readonly string[]): (Entry | undefined)[];
  /**
   * The committed entry of a key: at once when it is cached, otherwise with every other such read
   * of this turn of the event loop, in one storage call (a native call per key costs about twice
   * as much as one in a batch).
   */
  readBatched(key: string): Entry | undefined | Promise<Entry | undefined>;
  /** Queues a local mutation; resolves with the key's entry once the change is durable. */
  update(key: string, update: Update): Promise<Entry | undefined>;
  /** Removes every key. Replicas order it by its stamp like any other write. */
  truncate(): Promise<void>;
  readonly liveKeys: number;
  /** Key and value bytes of the live entries. */
  readonly dataBytes: number;
  /** Live keys starting with `prefix`, in UTF-8 byte order, after `after` (exclusive). */
  scanKeys(prefix: string, after?: string, limit?: number): string[];
  /**
   * Live entries whose key starts with `prefix` (and sorts after `after`), in UTF-8 byte order of
   * the key, read lazily: iterate to the end or break out of the loop.
   */
  liveEntries(prefix: string, after?: string): Generator<[string, Entry], void, undefined>;
  /** Calls `listener` with every commit group's changes (local and merged), once durable. */
  onCommit(listener: (events: readonly CommitEvent[]) => void): () => void;
}

/** What a scoped view takes from the whole store: its reads, writes and commit events. */
export type ScopeSource = Pick<Keyspace, 'read' | 'readMany' | 'readBatched' | 'update' | 'onCommit'>;

/**
 * The keyspace of some shards only. Its reads and writes expect keys of those shards (the caller
 * routes by shard); counts, scans, truncation and commit events cover them alone.
 */
export function scopedKeyspace(whole: ScopeSource, selected: readonly Shard[], truncate: () => Promise<void>): Keyspace {
  const inScope = new Set(selected.map((shard) => shard.index));
  return {
    read: (key) => whole.read(key),
    readMany: (keys) => whole.readMany(keys),
    readBatched: (key) => whole.readBatched(key),
    update: (key, update) => whole.update(key, update),
    truncate,
    get liveKeys() {
      return liveKeysOf(selected);
    },
    get dataBytes() {
      return dataBytesOf(selected);
    },
    scanKeys: (prefix, after, limit = Infinity) => scanKeysOf(selected, prefix, after, limit),
    liveEntries: (prefix, after) => liveEntriesOf(selected, prefix, after),
    onCommit: (listener) =>
      whole.onCommit((events) => {
        const mine = events.filter((event) => inScope.has(event.shard));
        if (mine.length > 0) listener(mine);
      }),
  };
}

export function liveKeysOf(shards: readonly Shard[]): number {
  let n = 0;
  for (const shard of shards) n += shard.size;
  return n;
}

export function dataBytesOf(shards: readonly Shard[]): number {
  let n = 0;
  for (const shard of shards) n += shard.dataBytes;
  return n;
}

export function scanKeysOf(shards: readonly Shard[], prefix: string, after: string | undefined, limit: number): string[] {
  const keys: string[] = [];
  if (limit <= 0) return keys;
  for (const [key] of liveEntriesOf(shards, prefix, after)) {
    keys.push(key);
    if (keys.length >= limit) break;
  }
  return keys;
}

/**
 * The live entries of several shards in one key order: a merge of each shard's ordered scan.
 * Keys are unique across shards (a key has one shard), so the merge never meets a tie.
 */
export function* liveEntriesOf(shards: readonly Shard[], prefix: string, after?: string): Generator<[string, Entry], void, undefined> {
  const range = after === undefined ? { prefix } : { prefix, after };
  const scans = shards.map((shard) => liveOnly(shard.entries(range)));
  try {
    if (scans.length === 1) {
      yield* scans[0]!;
      return;
    }
    const heads: ([string, Entry] | undefined)[] = scans.map((scan) => next(scan));
    for (;;) {
      let min = -1;
      for (let i = 0; i < heads.length; i++) {
        const head = heads[i];
        if (head !== undefined && (min < 0 || compareKeys(head[0], heads[min]![0]) < 0)) min = i;
      }
      if (min < 0) return;
      yield heads[min]!;
      heads[min] = next(scans[min]!);
    }
  } finally {
    for (const scan of scans) scan.return();
  }
}

/** Entries holding a value now: no tombstone, nothing expired (the sweeper has yet to collect it). */
function* liveOnly(entries: Generator<[string, Entry], void, undefined>): Generator<[string, Entry], void, undefined> {
  const now = Date.now();
  for (const pair of entries) if (isLiveAt(pair[1], now)) yield pair;
}

function next(scan: Generator<[string, Entry], void, undefined>): [string, Entry] | undefined {
  const step = scan.next();
  return step.done ? undefined : step.value;
}
