import { type Entry } from '#crdt';
import { type EntryCache } from './entry-cache.js';
import { shardOf } from './key-order.js';
import { type Settle } from './keyspace.js';
import { readStored, type Shard, type ShardStorage } from './shard.js';

/**
 * The committed state's reads, synchronous: the entry cache, then the engine (one native call
 * for several keys). A read sees only what the commit loop made durable and visible.
 */
export class KeyspaceReader {
  /** Reads that missed the entry cache in this turn, answered together (see readBatched). */
  #batched: { readonly key: string; readonly settle: Settle<Entry | undefined> }[] = [];

  constructor(
    private readonly shards: readonly Shard[],
    private readonly storage: ShardStorage,
    private readonly cache: EntryCache,
  ) {}

  /** The shard that holds `key`. */
  ownerOf(key: string): Shard {
    return this.shards[shardOf(key, this.shards.length)]!;
  }

  /** The committed entry of a key, tombstones included. */
  read(key: string): Entry | undefined {
    return this.ownerOf(key).read(key);
  }

  /** The committed entries of several keys, in their order: one storage call for the cache's misses. */
  readMany(keys: readonly string[]): (Entry | undefined)[] {
    if (keys.length === 1) return [this.read(keys[0]!)];
    const owners = keys.map((key) => this.ownerOf(key));
    return readStored(this.storage, keys, (i) => owners[i]!).map((entry, i) => owners[i]!.visible(entry));
  }

  readBatched(key: string): Entry | undefined | Promise<Entry | undefined> {
    const cached = this.cache.get(key);
    if (cached !== undefined) return this.ownerOf(key).visible(cached);
    return new Promise((resolve, reject) => {
      this.#batched.push({ key, settle: { resolve, reject } });
      if (this.#batched.length === 1) setImmediate(this.#runBatched);
    });
  }

  /** Runs after the I/O of this turn: every connection's reads that missed the cache, in one call. */
  readonly #runBatched = (): void => {
    const reads = this.#batched;
    this.#batched = [];
    let entries: (Entry | undefined)[];
    try {
      entries = this.readMany(reads.map((read) => read.key));
    } catch (err) {
      for (const read of reads) read.settle.reject(err);
      return;
    }
    reads.forEach((read, i) => read.settle.resolve(entries[i]));
  };
}
