import { compareStamps, decodeEntry, encodeEntry, type Entry, entryDigest, expiredForm, expiresAt, isLive, type Stamp, type TombstoneEntry, ZERO_STAMP } from '#crdt';
import { equalBytes, isMstError, MerkleSearchTree, type NodeSource, type PersistedRoot } from '#mst';
import { type ExpiringKey, type PersistOp, type StorageEngine } from './engine.js';
import { type EntryCache } from './entry-cache.js';
import { describeCause, StoreError } from './errors.js';
import { countsOp, decodeIds, encodeIds, type ShardCounts, treeRootOp } from './metadata.js';

/**
 * How long a snapshot of the tree may read node records after it was taken: an anti-entropy
 * session's snapshot shares nodes with the live tree, which may evict them, so the records a
 * checkpoint stops using are kept that long after the last snapshot (and deleted at once when
 * no snapshot was taken lately). Sessions take seconds; one that outlives this fails and is retried.
 */
export const SNAPSHOT_LIFETIME_MS = 5 * 60_000;

/** What a checkpoint needs from the store: record ids and graveyard sequence numbers, and the time. */
export interface CheckpointContext {
  readonly nextNodeId: () => number;
  readonly nextGraveSeq: () => number;
  readonly now: number;
}

/** A prepared checkpoint: made visible once its batch is durable, or forgotten if the write failed. */
export interface PreparedCheckpoint {
  commit(): void;
  abort(): void;
}

interface Grave {
  readonly seq: number;
  readonly ids: readonly number[];
  /** When no snapshot can need them any more. */
  readonly dueAt: number;
}

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
  private truncated = new Set<string>();
  private counts: ShardCounts;
  /**
   * What the stored counts record holds: a group writes the record only when its counts differ
   * (a group of overwrites by values of the same size leaves them as they were). Apart from
   * `counts`, which a rebuild of the tree recounts without storing.
   */
  private storedCounts: ShardCounts;
  /** The counts once this group is durable. */
  private stagedCounts: ShardCounts | undefined;
  /** Entries that do not outrank the floor were truncated away. */
  private truncatedAt: Stamp;
  private stagedFloor: Stamp | undefined;
  private tree: MerkleSearchTree;
  /** Keys with a pending marker on disk: their change may be missing from the stored tree. */
  private readonly markers = new Set<string>();
  /** Markers this commit group writes. */
  private stagedMarkers: string[] = [];
  private graveyard: Grave[] = [];
  /** Until when the snapshots taken so far may read stored nodes. */
  private snapshotsReadUntil = 0;
  /**
   * Keys whose entry changed since the tree last caught up (null: the key is gone; undefined: a
   * marker found at open, the entry to be read when the tree takes it). The store
   * brings the tree up to date in small slices between commit groups ({@link catchUpSome}), and
   * a root or snapshot asked for finishes the rest: repeated writes of a hot key within a slice's
   * delay cost one upsert, and neither the request path nor the next announcement pays for a
   * second of writes at once.
   */
  private readonly treeBehind = new Map<string, Entry | null | undefined>();

  private readonly nodes: NodeSource;
  /**
   * Whether the scrub after this open has anything to compare: the shard held a stored tree or
   * entries when it was opened. The scrub checks what a run before this one left on disk; a
   * shard that held nothing has only what this run wrote through its commit groups, which keep
   * the tree and the entries in step by construction.
   */
  readonly scrubDue: boolean;

  constructor(
    readonly index: number,
    private readonly storage: ShardStorage,
    floor: Stamp,
    counts: ShardCounts,
    root: PersistedRoot | null,
  ) {
    this.truncatedAt = floor;
    this.counts = counts;
    this.storedCounts = counts;
    this.nodes = { read: (id) => storage.engine.getNode(index, id) };
    this.tree = MerkleSearchTree.open(this.nodes, root);
    this.scrubDue = root !== null || holdsEntries(storage.engine, index);
  }

  /**
   * Takes up what the last run left: keys whose change the stored tree may lack (their markers;
   * after a clean stop there are none) go back into the tree's queue, their entries read only
   * when the tree takes them, and graveyard records are
   * due at once (no snapshot outlives a restart). Returns how many keys were queued.
   */
  resume(): number {
    let queued = 0;
    for (const key of this.storage.engine.pendingKeys(this.index)) {
      this.markers.add(key);
      this.treeBehind.set(key, undefined);
      queued++;
    }
    for (const [seq, value] of this.storage.engine.graves(this.index)) this.graveyard.push({ seq, ids: decodeIds(value), dueAt: 0 });
    return queued;
  }

  /** The largest graveyard sequence number in use (0 when none). */
  get lastGraveSeq(): number {
    return this.graveyard.reduce((max, grave) => Math.max(max, grave.seq), 0);
  }

  /** Root hash of the shard's Merkle Search Tree. */
  root(): Uint8Array {
    return this.guard(() => {
      this.catchUpTree();
      return this.tree.root();
    });
  }

  /**
   * Layers of the tree (the root's layer + 1), for metrics: reads the root only, and leaves the
   * keys the tree has yet to take (at most a moment's writes) to their slices. A metrics scrape
   * that took them up at once cost a loaded node about 2% of its event loop (bench:protocol
   * SETs over 1M keys, with the dashboard's sampling every second).
   */
  height(): number {
    return this.guard(() => this.tree.layers());
  }

  /** A frozen view of the tree that later writes do not disturb (for sync sessions). */
  snapshot(): MerkleSearchTree {
    this.snapshotsReadUntil = Date.now() + SNAPSHOT_LIFETIME_MS;
    return this.guard(() => {
      this.catchUpTree();
      return this.tree.snapshot();
    });
  }

  /** Keys the tree has not caught up with. */
  get treeLag(): number {
    return this.treeBehind.size;
  }

  /** Brings at most `limit` keys into the tree; returns how many it did. */
  catchUpSome(limit: number): number {
    return this.guard(() => this.applySome(limit));
  }

  /**
   * Runs a tree operation; when a stored tree node is missing or does not match its hash, the
   * tree is rebuilt from the stored entries (one pass over the shard) and the operation runs
   * again. The entries are the truth the tree summarises: a broken tree costs time, never data.
   * The broken tree's records stay on disk, unused.
   */
  private guard<T>(operation: () => T): T {
    try {
      return operation();
    } catch (err) {
      if (!isMstError(err) || err.code !== 'CORRUPT') throw err;
      this.storage.onCorrupt?.(this.index, '(merkle search tree)', err);
      this.rebuildTree();
      this.treeBehind.clear();
      return operation();
    }
  }

  private applySome(limit: number): number {
    let done = 0;
    for (const [key, queued] of this.treeBehind) {
      if (done >= limit) break;
      this.treeBehind.delete(key);
      const entry = queued === undefined ? (this.read(key) ?? null) : queued;
      const keyBytes = Buffer.from(key, 'utf8');
      if (entry) this.tree.upsert(keyBytes, entryDigest(entry));
      else this.tree.remove(keyBytes);
      done++;
    }
    return done;
  }

  private catchUpTree(): void {
    this.applySome(Infinity);
  }

  /**
   * Builds the tree from the stored entries in one sorted pass (the engine scans in key order;
   * the next checkpoint stores every node) and counts the live keys and bytes: the upgrade of a
   * data directory of the first format (which also indexes its tombstones into
   * `indexTombstones`), and the repair of a broken stored tree. Returns the greatest stamp seen,
   * for the clock.
   */
  rebuildTree(indexTombstones?: PersistOp[]): Stamp {
    const keys: Uint8Array[] = [];
    const digests: Uint8Array[] = [];
    let live = 0;
    let bytes = 0;
    let latest = ZERO_STAMP;
    for (const [key, entry] of this.entries()) {
      keys.push(Buffer.from(key, 'utf8'));
      digests.push(entryDigest(entry));
      if (compareStamps(entry.stamp, latest) > 0) latest = entry.stamp;
      if (entry.type === 'tombstone') indexTombstones?.push({ type: 'tomb-put', shard: this.index, key });
      if (isLive(entry)) {
        live++;
        bytes += footprint(key, entry);
      }
    }
    this.tree = MerkleSearchTree.fromSorted(keys, digests);
    this.tree.persistTo(this.nodes);
    this.counts = { keys: live, bytes };
    return latest;
  }

  /** Committed state: what clients may observe. */
  read(key: string): Entry | undefined {
    return this.visible(this.committed(key));
  }

  /** The committed tombstones of this shard, from its tombstone index (not a scan of every entry). */
  *tombstones(): Generator<[string, Entry], void, undefined> {
    for (const key of this.storage.engine.tombstoneKeys(this.index)) {
      const entry = this.read(key);
      if (entry?.type === 'tombstone') yield [key, entry];
    }
  }

  /** The committed entries (tombstones included) in key byte order, streamed from storage. */
  *entries(range: { prefix?: string; after?: string } = {}): Generator<[string, Entry], void, undefined> {
    for (const [key, value] of this.storage.engine.scan(this.index, range)) {
      const entry = this.decode(key, value);
      if (entry && survives(entry, this.truncatedAt)) yield [key, entry];
    }
  }

  /** Whether the current commit group has yet to read a key's committed entry. */
  unread(key: string): boolean {
    return !this.groupReads.has(key) && !this.staged.has(key);
  }

  /** The committed entry of a key, read for the current commit group ahead of its mutations. */
  prefetched(key: string, entry: Entry | undefined): void {
    this.groupReads.set(key, entry);
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
   * Keeps the expiry index in step with a staged entry: the stored entry's record goes when the
   * expiry time changes, the new one comes (one record per expiring key, so the sweeper's reads
   * find each key once, at its current time).
   */
  private indexExpiry(key: string, entry: Entry, ops: PersistOp[]): void {
    const stored = this.groupReads.get(key);
    const before = stored && expiresAt(stored);
    const after = expiresAt(entry);
    if (before === after) return;
    if (before !== undefined) ops.push({ type: 'expiry-del', shard: this.index, at: before, key });
    if (after !== undefined) ops.push({ type: 'expiry-put', shard: this.index, at: after, key });
  }

  /** Keys of this shard whose entries expire by `until` (ms), earliest first, at most `limit`. */
  expiring(until: number, limit: number): ExpiringKey[] {
    return this.storage.engine.expiringKeys(this.index, until, limit);
  }

  /**
   * Replaces a key's entry by its expired form (a tombstone every replica derives alike) when,
   * as this commit group sees it, the entry still expires at `at` and `at` has passed by `now`.
   * Returns the tombstone staged, or undefined when the key holds anything else by now.
   */
  stageExpiry(key: string, at: number, now: number): TombstoneEntry | undefined {
    const entry = this.current(key);
    if (entry === undefined || entry.type === 'tombstone' || expiresAt(entry) !== at || at > now) return undefined;
    const expired = expiredForm(entry);
    this.stage(key, expired);
    return expired;
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
      this.truncated.clear();
      for (const [key, entry] of this.entries()) {
        if (this.staged.has(key) || this.removals.has(key)) continue;
        if (survives(entry, floor)) {
          if (isLive(entry)) {
            keys++;
            bytes += footprint(key, entry);
          }
        } else {
          this.truncated.add(key);
          ops.push({ type: 'del', shard: this.index, key });
          if (entry.type === 'tombstone') ops.push({ type: 'tomb-del', shard: this.index, key });
          const at = expiresAt(entry);
          if (at !== undefined) ops.push({ type: 'expiry-del', shard: this.index, at, key });
        }
      }
    }
    for (const [key, entry] of this.staged) {
      ops.push({ type: 'put', shard: this.index, key, value: encodeEntry(entry) });
      if (entry.type === 'tombstone') ops.push({ type: 'tomb-put', shard: this.index, key });
      else if (this.groupReads.get(key)?.type === 'tombstone') ops.push({ type: 'tomb-del', shard: this.index, key });
      this.indexExpiry(key, entry, ops);
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
    for (const key of this.removals) ops.push({ type: 'del', shard: this.index, key }, { type: 'tomb-del', shard: this.index, key });
    this.stagedCounts = { keys, bytes };
    if (keys !== this.storedCounts.keys || bytes !== this.storedCounts.bytes) ops.push(countsOp(this.index, this.stagedCounts));
    // The tree learns of these keys later: until a checkpoint covers them, a marker says so.
    for (const keys of [this.staged.keys(), this.removals, this.truncated]) {
      for (const key of keys) {
        if (this.markers.has(key)) continue;
        this.stagedMarkers.push(key);
        ops.push({ type: 'pending-put', shard: this.index, key });
      }
    }
  }

  /**
   * The writes of a tree checkpoint, in the same batch as this commit group's: the records of the
   * nodes changed since the last one, the new root, the markers of keys the tree now covers, a
   * graveyard record for the node records it stopped using, and the deletion of graveyard
   * records past their grace. Undefined when there is nothing to write.
   */
  checkpoint(ops: PersistOp[], context: CheckpointContext): PreparedCheckpoint | undefined {
    const prepared = this.tree.checkpoint(context.nextNodeId);
    const covered = [...this.markers].filter((key) => !this.treeBehind.has(key) && !this.inGroup(key));
    const due = this.graveyard.filter((grave) => grave.dueAt <= context.now);
    if (prepared.records.length === 0 && prepared.freed.length === 0 && covered.length === 0 && due.length === 0) {
      prepared.abort();
      return undefined;
    }
    for (const [id, value] of prepared.records) ops.push({ type: 'node-put', shard: this.index, id, value });
    // With no snapshot that may still read them, the freed records go at once.
    const keep = prepared.freed.length > 0 && this.snapshotsReadUntil > context.now;
    const grave = keep ? { seq: context.nextGraveSeq(), ids: prepared.freed, dueAt: this.snapshotsReadUntil } : undefined;
    if (grave) ops.push({ type: 'grave-put', shard: this.index, seq: grave.seq, value: encodeIds(grave.ids) });
    else for (const id of prepared.freed) ops.push({ type: 'node-del', shard: this.index, id });
    for (const old of due) {
      for (const id of old.ids) ops.push({ type: 'node-del', shard: this.index, id });
      ops.push({ type: 'grave-del', shard: this.index, seq: old.seq });
    }
    for (const key of covered) ops.push({ type: 'pending-del', shard: this.index, key });
    ops.push(treeRootOp(this.index, prepared.root));
    return {
      commit: () => {
        for (const key of covered) this.markers.delete(key);
        if (due.length > 0) this.graveyard = this.graveyard.filter((g) => !due.includes(g));
        if (grave) this.graveyard.push(grave);
      },
      abort: () => prepared.abort(),
    };
  }

  /**
   * One slice of a scrub: compares up to `limit` stored entries after `after` with what the tree
   * holds for the same key range, and queues every key where they disagree (a record lost,
   * corrupted or changed behind the store's back) so that the tree follows the entries and a
   * peer's anti-entropy repairs the rest. Keys the tree has not caught up with are skipped: the
   * tree is about to take them from the entries anyway. Synchronous, so both sides are read at
   * one moment. Returns the last key compared (undefined once the shard is done) and the keys queued.
   */
  scrubSlice(after: string | undefined, limit: number): { readonly last: string | undefined; readonly compared: number; readonly repaired: number } {
    return this.guard(() => this.compareSlice(after, limit));
  }

  private compareSlice(after: string | undefined, limit: number): { readonly last: string | undefined; readonly compared: number; readonly repaired: number } {
    const stored = new Map<string, Entry>();
    let last: string | undefined;
    let exhausted = true;
    for (const [key, entry] of this.entries(after === undefined ? {} : { after })) {
      if (stored.size === limit) {
        exhausted = false;
        break;
      }
      stored.set(key, entry);
      last = key;
    }
    const range = {
      ...(after === undefined ? {} : { start: successor(after) }),
      ...(exhausted ? {} : { end: successor(last!) }),
    };
    const held = new Map<string, Uint8Array>();
    for (const { key, digest } of this.tree.entries(range)) held.set(Buffer.from(key).toString('utf8'), digest);
    let repaired = 0;
    for (const [key, entry] of stored) {
      const digest = held.get(key);
      if (this.treeBehind.has(key) || (digest !== undefined && equalBytes(digest, entryDigest(entry)))) continue;
      this.treeBehind.set(key, entry);
      repaired++;
    }
    for (const key of held.keys()) {
      if (stored.has(key) || this.treeBehind.has(key)) continue;
      this.treeBehind.set(key, null);
      repaired++;
    }
    return { last: exhausted ? undefined : last, compared: stored.size, repaired };
  }

  /** Turns stored tree nodes nobody read lately back into stubs, keeping the loaded ones near `maxBytes`. */
  evictTree(maxBytes: number): void {
    this.tree.evict(maxBytes);
  }

  private inGroup(key: string): boolean {
    return this.staged.has(key) || this.removals.has(key) || this.truncated.has(key);
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
      this.truncated.clear();
    }
    for (const key of this.removals) {
      cache.delete(key);
      this.treeBehind.set(key, null);
    }
    for (const [key, entry] of this.staged) {
      cache.set(key, entry);
      this.treeBehind.set(key, entry);
    }
    if (this.stagedCounts) {
      // Stored by this group, or equal to what was stored before it.
      this.counts = this.stagedCounts;
      this.storedCounts = this.stagedCounts;
    }
    for (const key of this.stagedMarkers) this.markers.add(key);
    this.endGroup();
  }

  /** Forgets the commit group after a failed write. */
  discard(): void {
    this.stagedFloor = undefined;
    this.truncated.clear();
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
    this.stagedMarkers = [];
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
    return this.stored([key])[0];
  }

  /** The stored entries of keys (floor not applied): the cache's hits, and its misses in one engine call. */
  private stored(keys: readonly string[]): (Entry | undefined)[] {
    return readStored(this.storage, keys, () => this);
  }

  /** An entry as reads see it: nothing when the shard's truncation floor outranks it. */
  visible(entry: Entry | undefined): Entry | undefined {
    return entry && survives(entry, this.truncatedAt) ? entry : undefined;
  }

  /** A stored record decoded; a record that does not decode is reported and reads as absent. */
  decode(key: string, value: Uint8Array): Entry | undefined {
    try {
      return decodeEntry(value);
    } catch (err) {
      this.storage.onCorrupt?.(this.index, key, err);
      return undefined;
    }
  }
}

/**
 * The stored entries (floor not applied) of keys of one or several shards: the cache's hits,
 * and all its misses in one engine call.
 */
export function readStored(storage: ShardStorage, keys: readonly string[], shardOfKey: (index: number) => Shard): (Entry | undefined)[] {
  const cache = storage.cache;
  const out = keys.map((key) => cache.get(key));
  const missing: number[] = [];
  out.forEach((entry, i) => entry === undefined && missing.push(i));
  if (missing.length === 0) return out;
  let values: (Uint8Array | undefined)[];
  try {
    values = storage.engine.getEntries(
      missing.map((i) => shardOfKey(i).index),
      missing.map((i) => keys[i]!),
    );
  } catch (cause) {
    throw new StoreError('STORAGE', `storage read failed: ${describeCause(cause)}`, { cause });
  }
  missing.forEach((i, j) => {
    const value = values[j];
    const entry = value === undefined ? undefined : shardOfKey(i).decode(keys[i]!, value);
    if (entry !== undefined) cache.set(keys[i]!, entry);
    out[i] = entry;
  });
  return out;
}

/** The smallest key byte string above `key`: `key` then a zero byte. */
function successor(key: string): Uint8Array {
  const bytes = Buffer.from(key, 'utf8');
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
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

function holdsEntries(engine: StorageEngine, shard: number): boolean {
  const scan = engine.scan(shard);
  try {
    return scan.next().done !== true;
  } finally {
    scan.return();
  }
}
