import { compareStamps, type Entry, entryDigest, isLive, type Stamp, ZERO_STAMP } from '#crdt';
import { compareBytes, MerkleSearchTree, treeStats } from '#mst';

/**
 * One shard's state: every entry (tombstones included) of the keys that hash to it, its Merkle
 * Search Tree (key -> entry digest, tombstones included, so its root covers type, state, stamp
 * and deletion of every entry), and the truncation floor. The store's commit loop is the shard's actor: it applies the shard's queued
 * mutations one at a time against {@link Shard.current} (committed state overlaid with what this
 * commit group staged), persists the group in one batch, and only then publishes the staged
 * entries to {@link Shard.read}, so readers never see a write that is not yet durable.
 */
export class Shard {
  private readonly committed = new Map<string, Entry>();
  private readonly staged = new Map<string, Entry>();
  /** Keys whose collected tombstone this commit group removes. */
  private readonly removals = new Set<string>();
  private liveKeys = 0;
  private bytes = 0;
  /** Entries that do not outrank the floor were truncated away. */
  private truncatedAt: Stamp = ZERO_STAMP;
  private stagedFloor: Stamp | undefined;
  private tree = new MerkleSearchTree();
  /** Digests gathered at open, built into the tree in one sorted pass. */
  private restored: [Uint8Array, Uint8Array][] | undefined = [];
  /**
   * Keys whose entry changed since the tree last caught up. The store brings the tree up to date
   * in small slices between commit groups ({@link catchUpSome}), and a root or snapshot asked for
   * finishes the rest: repeated writes of a hot key within a slice's delay cost one upsert, and
   * neither the request path nor the next announcement pays for a second of writes at once.
   */
  private readonly treeBehind = new Set<string>();

  constructor(readonly index: number) {}

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
    for (const key of this.treeBehind) {
      if (done >= limit) break;
      this.treeBehind.delete(key);
      const entry = this.committed.get(key);
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

  /** Committed state: what clients may observe. */
  read(key: string): Entry | undefined {
    return this.committed.get(key);
  }

  /**
   * State as a mutation in the current commit group must see it. An absent key of a truncated
   * shard reads as a tombstone at the floor, so that what is built on it (a counter's epoch)
   * ranks above the truncation.
   */
  current(key: string): Entry | undefined {
    const staged = this.staged.get(key);
    if (staged) return staged;
    const committed = this.removals.has(key) ? undefined : this.committed.get(key);
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
    const entry = this.staged.get(key) ?? (this.removals.has(key) ? undefined : this.committed.get(key));
    if (entry?.type !== 'tombstone' || compareStamps(entry.stamp, stamp) !== 0) return false;
    this.staged.delete(key);
    this.removals.add(key);
    return true;
  }

  /** Committed keys this commit group removes, to delete from storage. */
  stagedRemovals(): IterableIterator<string> {
    return this.removals.values();
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

  /** Committed keys the staged floor removes, to delete from storage. */
  *truncatedKeys(): IterableIterator<string> {
    const floor = this.stagedFloor;
    if (!floor) return;
    for (const [key, entry] of this.committed) if (!this.staged.has(key) && !survives(entry, floor)) yield key;
  }

  /** Makes the commit group visible once it is durable. */
  commit(): void {
    const floor = this.stagedFloor;
    if (floor) {
      for (const [key, entry] of this.committed) if (!survives(entry, floor)) this.uninstall(key, entry);
      this.truncatedAt = floor;
      this.stagedFloor = undefined;
    }
    for (const key of this.removals) {
      const entry = this.committed.get(key);
      if (entry) this.uninstall(key, entry);
    }
    this.removals.clear();
    for (const [key, entry] of this.staged) this.install(key, entry);
    this.staged.clear();
  }

  /** Forgets the commit group after a failed write. */
  discard(): void {
    this.staged.clear();
    this.removals.clear();
    this.stagedFloor = undefined;
  }

  /** Restores persisted state at open; entries below the floor are ignored. */
  restore(key: string, entry: Entry): void {
    if (!survives(entry, this.truncatedAt)) return;
    this.install(key, entry);
  }

  /** Builds the tree from everything restored (one sorted bulk build instead of upserts). */
  finishRestore(): void {
    const pairs = this.restored ?? [];
    this.restored = undefined;
    pairs.sort((a, b) => compareBytes(a[0], b[0]));
    this.tree = MerkleSearchTree.fromSorted(
      pairs.map((p) => p[0]),
      pairs.map((p) => p[1]),
    );
  }

  restoreFloor(floor: Stamp): void {
    this.truncatedAt = floor;
  }

  /** The truncation floor of committed state. */
  get truncationFloor(): Stamp {
    return this.truncatedAt;
  }

  get size(): number {
    return this.liveKeys;
  }

  get dataBytes(): number {
    return this.bytes;
  }

  entries(): IterableIterator<[string, Entry]> {
    return this.committed.entries();
  }

  private install(key: string, entry: Entry): void {
    const prev = this.committed.get(key);
    if (prev) this.uncount(key, prev);
    this.committed.set(key, entry);
    if (this.restored) this.restored.push([Buffer.from(key, 'utf8'), entryDigest(entry)]);
    else this.treeBehind.add(key);
    if (isLive(entry)) {
      this.liveKeys++;
      this.bytes += footprint(key, entry);
    }
  }

  private uninstall(key: string, entry: Entry): void {
    this.committed.delete(key);
    this.treeBehind.add(key);
    this.uncount(key, entry);
  }

  private uncount(key: string, entry: Entry): void {
    if (isLive(entry)) {
      this.liveKeys--;
      this.bytes -= footprint(key, entry);
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
