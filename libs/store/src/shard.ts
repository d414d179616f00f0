import { compareStamps, decodeEntry, encodeEntry, type Entry, entryDigest, isLive, type Stamp, ZERO_STAMP } from '#crdt';
import { MerkleSearchTree, treeStats } from '#mst';
import { type PersistOp, type StorageEngine } from './engine.js';
import { type EntryCache } from './entry-cache.js';
import { countsOp, type ShardCounts } from './metadata.js';

/** Told about a stored record that does not decode (it then reads as absent). */
export type CorruptRecordHandler = (shard: number, key: string, error: unknown) => void;

/** Where a shard reads its committed entries: the engine, through the store's entry cache. */
export interface ShardStorage {
  readonly engine: StorageEngine;
  readonly cache: EntryCache;
  readonly onCorrupt?: CorruptRecordHandler | undefined;
}

/**
 * One shard's state. Its committed entries (tombstones included) live in the engine, read
 * through the store's entry cache; the shard itself holds only what is in flight:
 *
 * - the current commit group: the entries it staged, the tombstones it collects, a new floor,
 *   and the committed entries its mutations read (fetched once per group, several keys in one
 *   engine call);
 * - the live key count and data bytes, persisted with every group that changes them, so that
 *   DBSIZE and MEMORY never count anything;
 * - its Merkle Search Tree (key -> entry digest, tombstones included, so its root covers type,
 *   state, stamp and deletion of every entry), with the keys it has not caught up with.
 *
 * The store's commit loop is the shard's actor: it applies the shard's queued mutations one at a
 * time against {@link Shard.current} (committed state overlaid with what this group staged),
 * persists the group in one batch, and only then publishes it ({@link Shard.commit}); a reader
 * gets committed state only ({@link Shard.read}), so it never sees a write that is not durable.
 */
export class Shard {
  private readonly staged = new Map<string, Entry>();
  /** Keys whose collected tombstone this commit group removes. */
  private readonly removals = new Set<string>();
  /** Committed entries (not floor-filtered) this group's mutations read; undefined = absent. */
  private readonly groupReads = new Map<string, Entry | undefined>();
  /** Keys the staged floor deletes from storage, found when the group is persisted. */
  private truncated: string[] = [];
  private counts: ShardCounts;
  /** The counts once this group is durable. */
  private stagedCounts: ShardCounts | undefined;
  /** Entries that do not outrank the floor were truncated away. */
  private truncatedAt: Stamp;
  private stagedFloor: Stamp | undefined;
  private tree = new MerkleSearchTree();
  /**
   * Keys whose entry changed since the tree last caught up (null: the key is gone). The store
   * brings the tree up to date in small slices between commit groups ({@link catchUpSome}), and
   * a root or snapshot asked for finishes the rest: repeated writes of a hot key within a slice's
   * delay cost one upsert, and neither the request path nor the next announcement pays for a
   * second of writes at once.
   */
  private readonly treeBehind = new Map<string, Entry | null>();

  constructor(
    readonly index: number,
    private readonly storage: ShardStorage,
    floor: Stamp,
    counts: ShardCounts,
  ) {
    this.truncatedAt = floor;
    this.counts = counts;
  }

  /** Root hash of the shard's Merkle Search Tree. */
  root(): Uint8Array {
    this.catchUpTree();
    return this.tree.root();
  }

  /** Levels of the tree, for metrics (a walk of every node: scrape time only). */
  height(): number {
    this.catchUpTree();
    return treeStats(this.tree).height;
  }

  /** A frozen view of the tree that later writes do not disturb (for sync sessions). */
  snapshot(): MerkleSearchTree {
    this.catchUpTree();
    return this.tree.snapshot();
  }

  /** Keys the tree has not caught up with. */
  get treeLag(): number {
    return this.treeBehind.size;
  }

  /** Brings at most `limit` keys into the tree; returns how many it did. */
  catchUpSome(limit: number): number {
    let done = 0;
    for (const [key, entry] of this.treeBehind) {
      if (done >= limit) break;
      this.treeBehind.delete(key);
      const keyBytes = Buffer.from(key, 'utf8');
      if (entry) this.tree.upsert(keyBytes, entryDigest(entry));
      else this.tree.remove(keyBytes);
      done++;
    }
    return done;
  }

  private catchUpTree(): void {
    this.catchUpSome(Infinity);
  }

  /**
   * Builds the tree from the stored entries in one sorted pass (the engine scans in key order).
   * With `recount`, also counts the live keys and bytes (a data directory of the first format
   * kept no counts). Returns the greatest stamp seen, for the clock.
   */
  loadTree(recount: boolean): Stamp {
    const keys: Uint8Array[] = [];
    const digests: Uint8Array[] = [];
    let live = 0;
    let bytes = 0;
    let latest = ZERO_STAMP;
    for (const [key, entry] of this.entries()) {
      keys.push(Buffer.from(key, 'utf8'));
      digests.push(entryDigest(entry));
      if (compareStamps(entry.stamp, latest) > 0) latest = entry.stamp;
      if (isLive(entry)) {
        live++;
        bytes += footprint(key, entry);
      }
    }
    this.tree = MerkleSearchTree.fromSorted(keys, digests);
    if (recount) this.counts = { keys: live, bytes };
    return latest;
  }

  /** Committed state: what clients may observe. */
  read(key: string): Entry | undefined {
    const entry = this.committed(key);
    return entry && survives(entry, this.truncatedAt) ? entry : undefined;
  }

  /** The committed entries (tombstones included) in key byte order, streamed from storage. */
  *entries(range: { prefix?: string; after?: string } = {}): Generator<[string, Entry], void, undefined> {
    for (const [key, value] of this.storage.engine.scan(this.index, range)) {
      const entry = this.decode(key, value);
      if (entry && survives(entry, this.truncatedAt)) yield [key, entry];
    }
  }

  /** Fetches, in one engine call, the committed entries of keys this group's mutations will read. */
  prefetch(keys: readonly string[]): void {
    const cache = this.storage.cache;
    const missing: string[] = [];
    for (const key of keys) {
      if (this.groupReads.has(key) || this.staged.has(key)) continue;
      const cached = cache.get(key);
      if (cached !== undefined) this.groupReads.set(key, cached);
      else if (!missing.includes(key)) missing.push(key);
    }
    if (missing.length === 0) return;
    const values = this.storage.engine.getEntries(this.index, missing);
    for (let i = 0; i < missing.length; i++) {
      const key = missing[i]!;
      const value = values[i];
      const entry = value === undefined ? undefined : this.decode(key, value);
      if (entry !== undefined) cache.set(key, entry);
      this.groupReads.set(key, entry);
    }
  }

  /**
   * State as a mutation in the current commit group must see it. An absent key of a truncated
   * shard reads as a tombstone at the floor, so that what is built on it (a counter's epoch)
   * ranks above the truncation.
   */
  current(key: string): Entry | undefined {
    const staged = this.staged.get(key);
    if (staged) return staged;
    const committed = this.removals.has(key) ? undefined : this.groupRead(key);
    const floor = this.floor;
    if (committed && survives(committed, floor)) return committed;
    return floor === ZERO_STAMP ? undefined : { type: 'tombstone', stamp: floor };
  }

  /** The floor as the current commit group sees it. */
  get floor(): Stamp {
    return this.stagedFloor ?? this.truncatedAt;
  }

  /** Whether an entry merged now would outlive the floor. */
  admits(entry: Entry): boolean {
    return survives(entry, this.floor);
  }

  stage(key: string, entry: Entry): void {
    this.removals.delete(key);
    this.staged.set(key, entry);
  }

  /**
   * Removes a key whose entry, as this commit group sees it, is still exactly the tombstone
   * `stamp` (a collected tombstone). False when the key holds anything else by now.
   */
  stageCollect(key: string, stamp: Stamp): boolean {
    const entry = this.staged.get(key) ?? (this.removals.has(key) ? undefined : this.groupRead(key));
    if (entry?.type !== 'tombstone' || compareStamps(entry.stamp, stamp) !== 0) return false;
    this.staged.delete(key);
    this.removals.add(key);
    return true;
  }

  /**
   * Raises the floor within the commit group; entries that do not outrank it are dropped
   * (all of them for a local truncate, whose floor is a fresh stamp). Returns false when the
   * floor is not above the current one (an old or repeated truncation).
   */
  stageTruncate(floor: Stamp): boolean {
    if (compareStamps(floor, this.floor) <= 0) return false;
    this.stagedFloor = floor;
    for (const [key, entry] of this.staged) if (!survives(entry, floor)) this.staged.delete(key);
    return true;
  }

  get stagedTruncation(): Stamp | undefined {
    return this.stagedFloor;
  }

  stagedEntries(): IterableIterator<[string, Entry]> {
    return this.staged.entries();
  }

  /**
   * The storage writes of this commit group: its entries, the records a new floor removes (found
   * by a pass over the shard's stored records: a truncation costs a scan of the shard), and the
   * shard's counts as they will be once the group is durable.
   */
  persist(ops: PersistOp[]): void {
    let { keys, bytes } = this.counts;
    const floor = this.stagedFloor;
    if (floor) {
      // The survivors are counted afresh; staged keys are counted below, whatever they held.
      keys = 0;
      bytes = 0;
      this.truncated = [];
      for (const [key, entry] of this.entries()) {
        if (this.staged.has(key) || this.removals.has(key)) continue;
        if (survives(entry, floor)) {
          if (isLive(entry)) {
            keys++;
            bytes += footprint(key, entry);
          }
        } else {
          this.truncated.push(key);
          ops.push({ type: 'del', shard: this.index, key });
        }
      }
    }
    for (const [key, entry] of this.staged) {
      ops.push({ type: 'put', shard: this.index, key, value: encodeEntry(entry) });
      if (!floor) {
        const prev = this.groupReads.get(key);
        if (prev && isLive(prev) && survives(prev, this.truncatedAt)) {
          keys--;
          bytes -= footprint(key, prev);
        }
      }
      if (isLive(entry)) {
        keys++;
        bytes += footprint(key, entry);
      }
    }
    // A collected key holds a tombstone: it was not counted.
    for (const key of this.removals) ops.push({ type: 'del', shard: this.index, key });
    this.stagedCounts = { keys, bytes };
    ops.push(countsOp(this.index, this.stagedCounts));
  }

  /** Makes the commit group visible once it is durable. */
  commit(): void {
    const cache = this.storage.cache;
    const floor = this.stagedFloor;
    if (floor) {
      this.truncatedAt = floor;
      this.stagedFloor = undefined;
      for (const key of this.truncated) {
        cache.delete(key);
        this.treeBehind.set(key, null);
      }
      this.truncated = [];
    }
    for (const key of this.removals) {
      cache.delete(key);
      this.treeBehind.set(key, null);
    }
    for (const [key, entry] of this.staged) {
      cache.set(key, entry);
      this.treeBehind.set(key, entry);
    }
    if (this.stagedCounts) this.counts = this.stagedCounts;
    this.endGroup();
  }

  /** Forgets the commit group after a failed write. */
  discard(): void {
    this.stagedFloor = undefined;
    this.truncated = [];
    this.endGroup();
  }

  /** The truncation floor of committed state. */
  get truncationFloor(): Stamp {
    return this.truncatedAt;
  }

  get size(): number {
    return this.counts.keys;
  }

  get dataBytes(): number {
    return this.counts.bytes;
  }

  get committedCounts(): ShardCounts {
    return this.counts;
  }

  private endGroup(): void {
    this.staged.clear();
    this.removals.clear();
    this.groupReads.clear();
    this.stagedCounts = undefined;
  }

  private groupRead(key: string): Entry | undefined {
    if (this.groupReads.has(key)) return this.groupReads.get(key);
    const entry = this.committed(key);
    this.groupReads.set(key, entry);
    return entry;
  }

  /** The stored entry of a key (floor not applied), through the cache. */
  private committed(key: string): Entry | undefined {
    const cache = this.storage.cache;
    const cached = cache.get(key);
    if (cached !== undefined) return cached;
    const [value] = this.storage.engine.getEntries(this.index, [key]);
    if (value === undefined) return undefined;
    const entry = this.decode(key, value);
    if (entry !== undefined) cache.set(key, entry);
    return entry;
  }

  private decode(key: string, value: Uint8Array): Entry | undefined {
    try {
      return decodeEntry(value);
    } catch (err) {
      this.storage.onCorrupt?.(this.index, key, err);
      return undefined;
    }
  }
}

/** Whether an entry outranks a truncation floor (a counter or set ranks just above its epoch). */
export function survives(entry: Entry, floor: Stamp): boolean {
  const order = compareStamps(entry.stamp, floor);
  return entry.type === 'counter' || entry.type === 'set' ? order >= 0 : order > 0;
}

/** Approximate bytes a live entry stands for: key and value bytes, counters at 8 bytes a component. */
function footprint(key: string, entry: Entry): number {
  const keyBytes = Buffer.byteLength(key);
  switch (entry.type) {
    case 'register':
      return keyBytes + entry.value.length;
    case 'counter':
      return keyBytes + 8 * (1 + entry.inc.size + entry.dec.size);
    default:
      return keyBytes + 32;
  }
}
