import { type ClockDriftError, type Entry, HybridLogicalClock, type NodeId, type Stamp } from '#crdt';
import { type MerkleSearchTree } from '#mst';
import { backupFrames } from './backup.js';
import { CommitLoop } from './commit-loop.js';
import { type PersistOp, type StorageEngine } from './engine.js';
import { EntryCache } from './entry-cache.js';
import { ExpirySweeper } from './expiry-sweeper.js';
import { shardOf } from './key-order.js';
import { KeyspaceReader } from './keyspace-reader.js';
import { type CommitEvent, dataBytesOf, type Keyspace, liveEntriesOf, liveKeysOf, scanKeysOf, scopedKeyspace, type Update } from './keyspace.js';
import { FORMAT, META_CLOCK, readMetadata, type StoreMetadata, treeIdsOp, upgradeOps } from './metadata.js';
import { Outbox, type OutboxRecord } from './outbox.js';
import { type ReplicaStore, type ShardHost } from './ports.js';
import { type CorruptRecordHandler, Shard, type ShardStorage } from './shard.js';
import { type StorageFaultEvent, StorageHealth, type StorageState } from './storage-health.js';
import { type ScrubResult, TREE_CATCH_UP_DELAY_MS, TreeUpkeep } from './tree-upkeep.js';

export interface StoreOptions {
  readonly engine: StorageEngine;
  readonly shards: number;
  /** Configured node id; when absent the id persisted in the data dir is used, or a new one made. */
  readonly nodeId?: NodeId;
  /** fsync every commit group (survives power loss, not only a process crash). */
  readonly syncWrites?: boolean;
  /** Record every local change in the outbox for replication. */
  readonly outbox?: boolean;
  readonly clock?: HybridLogicalClock;
  /** Told about stored records that fail to decode (they read as absent, never fatal). */
  readonly onCorruptRecord?: CorruptRecordHandler;
  /**
   * Heap bytes for decoded entries of recently used keys (default 32 MiB; 0: none). The engine's
   * own caches are its settings.
   */
  readonly entryCacheBytes?: number;
  /** Heap bytes for loaded Merkle Search Tree nodes, all shards together (default 32 MiB). */
  readonly treeCacheBytes?: number;
  /**
   * How long the trees' changes wait before a commit group stores them (default 5 s): longer
   * writes a node changed by many writes once, but holds more changed nodes in memory and leaves
   * more keys for the trees to take up after a crash.
   */
  readonly checkpointDelayMs?: number;
  /**
   * Told when the scrub that follows every open has compared each shard's stored tree with its
   * stored entries: how many keys it compared and how many disagreed (and were repaired), or
   * the error that stopped it.
   */
  readonly onScrubbed?: (result: ScrubResult) => void;
  /** How long after the open the scrub starts (default 3 s). */
  readonly scrubDelayMs?: number;
  /** Told how an upgrade of an older data directory goes (shards done of all), when one runs at open. */
  readonly onUpgrade?: (progress: { readonly fromFormat: number; readonly shardsDone: number; readonly shards: number; readonly keys: number }) => void;
  /**
   * Told when storage writes start failing (once, not per write), when they resume, and when
   * they cannot resume without a restart.
   */
  readonly onStorageFault?: (event: StorageFaultEvent) => void;
  /** How often a store whose writes fail checks whether they can resume (default 1 s). */
  readonly storageRetryMs?: number;
  /** Told when a remote change carried a clock too far ahead (it is merged all the same). */
  readonly onClockDrift?: (error: ClockDriftError) => void;
  /** Told when a commit listener threw (the commit stands; other listeners still run). */
  readonly onListenerError?: (error: unknown) => void;
  /**
   * The caller's trace context (a W3C traceparent), read when a local mutation is queued: its
   * outbox record carries it to the publisher, so one write stays one trace across nodes. Kept
   * in memory only; absent when tracing is off.
   */
  readonly traceContext?: () => string | undefined;
  /** How often the expiry sweeper looks for expired entries (default 1 s). */
  readonly expirySweepIntervalMs?: number;
  /** Expired entries the sweeper removes per turn at most (default 1024), all shards together. */
  readonly expirySweepLimit?: number;
}

const DEFAULT_ENTRY_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULT_TREE_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULT_CHECKPOINT_DELAY_MS = 5000;
const DEFAULT_STORAGE_RETRY_MS = 1000;
const DEFAULT_EXPIRY_SWEEP_INTERVAL_MS = 1000;
const DEFAULT_EXPIRY_SWEEP_LIMIT = 1024;
const DEFAULT_SCRUB_DELAY_MS = 3000;

/**
 * The node's keyspace: shard actors over one storage engine, and the units that serve them: the
 * commit loop (the single writer, see commit-loop.ts), the reader of committed state, the trees'
 * background upkeep, the expiry sweeper and the storage's health. This class opens and closes
 * them together and is what the rest of the node holds; other parts depend on its ports
 * (Keyspace, ReplicaStore, ShardHost), not on it.
 */
export class Store implements Keyspace, ReplicaStore, ShardHost {
  readonly nodeId: NodeId;
  readonly clock: HybridLogicalClock;
  private readonly shards: Shard[];
  private readonly entryCache: EntryCache;
  private readonly reader: KeyspaceReader;
  private readonly loop: CommitLoop;
  private readonly trees: TreeUpkeep;
  private readonly sweeper: ExpirySweeper;
  private readonly changes: Outbox | undefined;
  private readonly traceContext: StoreOptions['traceContext'];
  /** A shard's share of the tree cache: the loaded nodes its tree keeps. */
  private readonly treeBytesPerShard: number;
  private closed = false;
  /** Whether the engine takes writes; while it does not, mutations are refused at once. */
  private readonly health: StorageHealth;

  private constructor(
    private readonly engine: StorageEngine,
    options: StoreOptions,
    metadata: StoreMetadata,
  ) {
    this.nodeId = metadata.nodeId;
    this.clock = options.clock ?? new HybridLogicalClock();
    if (metadata.clock) this.clock.advancePast(metadata.clock);
    this.entryCache = new EntryCache(options.entryCacheBytes ?? DEFAULT_ENTRY_CACHE_BYTES);
    const storage: ShardStorage = { engine, cache: this.entryCache, onCorrupt: options.onCorruptRecord };
    this.shards = Array.from(
      { length: options.shards },
      (_, i) => new Shard(i, storage, metadata.floors[i]!, metadata.counts[i]!, metadata.treeRoots[i]!),
    );
    this.reader = new KeyspaceReader(this.shards, storage, this.entryCache);
    this.treeBytesPerShard = Math.floor((options.treeCacheBytes ?? DEFAULT_TREE_CACHE_BYTES) / options.shards);
    this.changes = options.outbox
      ? new Outbox(metadata.outboxSeq, {
          records: (afterSeq, limit) => engine.outboxRecords(afterSeq, limit),
          span: () => engine.outboxSpan(),
          onCorrupt: (seq, error) => options.onCorruptRecord?.(-1, `outbox/${seq}`, error),
        })
      : undefined;
    this.health = new StorageHealth(engine, {
      retryMs: options.storageRetryMs ?? DEFAULT_STORAGE_RETRY_MS,
      onEvent: options.onStorageFault,
      storedClock: () => this.loop.storedClock,
      idle: () => this.loop.quiet(),
      onResumed: () => {
        this.loop.schedule();
        this.trees.catchUp(0);
      },
    });
    this.loop = new CommitLoop({
      engine,
      shards: this.shards,
      storage,
      clock: this.clock,
      nodeId: this.nodeId,
      health: this.health,
      changes: this.changes,
      syncWrites: options.syncWrites ?? false,
      treeBytesPerShard: this.treeBytesPerShard,
      nextTreeId: metadata.nextTreeId,
      onClockDrift: options.onClockDrift,
      onListenerError: options.onListenerError,
      onEntriesCommitted: () => this.trees.catchUp(TREE_CATCH_UP_DELAY_MS),
    });
    this.trees = new TreeUpkeep({
      shards: this.shards,
      loop: this.loop,
      health: this.health,
      checkpointDelayMs: options.checkpointDelayMs ?? DEFAULT_CHECKPOINT_DELAY_MS,
    });
    this.sweeper = new ExpirySweeper({
      shards: this.shards,
      loop: this.loop,
      health: this.health,
      clock: this.clock,
      intervalMs: options.expirySweepIntervalMs ?? DEFAULT_EXPIRY_SWEEP_INTERVAL_MS,
      limit: options.expirySweepLimit ?? DEFAULT_EXPIRY_SWEEP_LIMIT,
    });
    this.traceContext = options.traceContext;
  }

  static async open(options: StoreOptions): Promise<Store> {
    const { engine } = options;
    await engine.open();
    try {
      const metadata = await readMetadata(engine, options.shards, options.nodeId);
      const store = new Store(engine, options, metadata);
      await store.restore(metadata, options);
      store.loop.storedClock = engine.getMeta(META_CLOCK);
      return store;
    } catch (err) {
      await engine.close();
      throw err;
    }
  }

  get shardCount(): number {
    return this.shards.length;
  }

  get engineKind(): StorageEngine['kind'] {
    return this.engine.kind;
  }

  /** Bytes the engine holds outside the JS heap (its caches and write buffers). */
  get engineMemoryBytes(): number {
    return this.engine.memoryBytes();
  }

  /** The replication outbox; undefined when the store does not record changes. */
  get outbox(): StoreOutbox | undefined {
    const changes = this.changes;
    if (!changes) return undefined;
    return {
      read: (afterSeq, limit) => changes.read(afterSeq, limit),
      // The deletions ride with a later commit group: under writes, no batch of their own.
      acknowledge: (seqs) => this.loop.deleteOutboxRecords(changes.remove(seqs)),
      onAppend: (listener) => changes.onAppend(listener),
      get depth() {
        return changes.depth;
      },
    };
  }

  shardOf(key: string): number {
    return shardOf(key, this.shards.length);
  }

  /** The committed entry of a key, tombstones included. */
  read(key: string): Entry | undefined {
    return this.reader.read(key);
  }

  /** The committed entries of several keys, in their order: one storage call for the cache's misses. */
  readMany(keys: readonly string[]): (Entry | undefined)[] {
    return this.reader.readMany(keys);
  }

  readBatched(key: string): Entry | undefined | Promise<Entry | undefined> {
    return this.reader.readBatched(key);
  }

  /** Queues a local mutation; resolves with the key's entry once the change is durable. */
  update(key: string, update: Update): Promise<Entry | undefined> {
    return new Promise((resolve, reject) => {
      this.loop.enqueue(this.shardOf(key), { kind: 'update', key, update, settle: { resolve, reject }, trace: this.traceContext?.() });
    });
  }

  /** Merges another replica's state of a key; resolves once durable, true if it changed anything. */
  merge(key: string, entry: Entry): Promise<boolean> {
    this.loop.observe(entry);
    return new Promise((resolve, reject) => {
      this.loop.enqueue(this.shardOf(key), { kind: 'merge', key, entry, settle: { resolve, reject } });
    });
  }

  truncate(): Promise<void> {
    return this.truncateShards(this.shards);
  }

  private truncateShards(shards: readonly Shard[]): Promise<void> {
    const trace = this.traceContext?.();
    const all = shards.map(
      (shard) =>
        new Promise<boolean>((resolve, reject) => {
          this.loop.enqueue(shard.index, { kind: 'truncate', settle: { resolve, reject }, trace });
        }),
    );
    return Promise.all(all).then(() => undefined);
  }

  /** Applies another replica's truncation of a shard: entries not above `floor` go. */
  applyTruncate(shard: number, floor: Stamp): Promise<boolean> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards.length) {
      return Promise.reject(new RangeError(`shard ${shard} outside 0..${this.shards.length - 1}`));
    }
    this.loop.observe({ type: 'tombstone', stamp: floor });
    return new Promise((resolve, reject) => {
      this.loop.enqueue(shard, { kind: 'truncate', floor, settle: { resolve, reject } });
    });
  }

  /** Root hash of a shard's Merkle Search Tree. */
  shardRoot(shard: number): Uint8Array {
    return this.shards[shard]!.root();
  }

  /** A frozen copy-on-write view of a shard's Merkle Search Tree, for anti-entropy sessions. */
  shardSnapshot(shard: number): MerkleSearchTree {
    return this.shards[shard]!.snapshot();
  }

  /**
   * Unloads the stored nodes a walk of `snapshot` read, down to a shard's share of the tree
   * cache. The commit loop's sweeps after checkpoints reach only the live tree and run only
   * under writes, while a session's scans may read most of a large shard at once, and nodes that
   * writes replaced since are held by the snapshot alone.
   */
  trimSnapshot(snapshot: MerkleSearchTree): void {
    snapshot.evict(this.treeBytesPerShard);
  }

  /**
   * An online backup: its frames ({@link backupFrames}) from one consistent view of the whole
   * engine, taken when the first is read, while writes go on. Iterate to the end or return.
   */
  backup(): Generator<Buffer, void, undefined> {
    return backupFrames(this.engine, { nodeId: this.nodeId, shards: this.shards.length, takenAt: Date.now(), liveKeys: this.liveKeys });
  }

  /** A shard's truncation floor (ZERO_STAMP when it was never truncated). */
  shardFloor(shard: number): Stamp {
    return this.shards[shard]!.truncationFloor;
  }

  /** A shard's committed entries, tombstones included, in key byte order, streamed from storage. */
  shardEntries(shard: number): Generator<[string, Entry], void, undefined> {
    return this.shards[shard]!.entries();
  }

  /** A shard's committed tombstones in key byte order, from its tombstone index. */
  shardTombstones(shard: number): Generator<[string, Entry], void, undefined> {
    return this.shards[shard]!.tombstones();
  }

  /**
   * Forgets a key whose entry is still exactly the tombstone `stamp`: tombstone collection.
   * Local only (never replicated: each replica decides when its own copy may go), invisible to
   * watchers (the key already reads as deleted). Resolves true once the removal is durable,
   * false when the key holds anything else by then.
   */
  collectTombstone(key: string, stamp: Stamp): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.loop.enqueue(this.shardOf(key), { kind: 'collect', key, stamp, settle: { resolve, reject } });
    });
  }

  /** Entries the expiry sweeper has replaced by their expired form since the store opened. */
  get expiredEntries(): number {
    return this.sweeper.expired;
  }

  /** Layers of a shard's Merkle Search Tree as it stands: its root's layer + 1 (0 when empty). */
  shardHeight(shard: number): number {
    return this.shards[shard]!.height();
  }

  get liveKeys(): number {
    return liveKeysOf(this.shards);
  }

  get dataBytes(): number {
    return dataBytesOf(this.shards);
  }

  scanKeys(prefix: string, after?: string, limit = Infinity): string[] {
    return scanKeysOf(this.shards, prefix, after, limit);
  }

  liveEntries(prefix: string, after?: string): Generator<[string, Entry], void, undefined> {
    return liveEntriesOf(this.shards, prefix, after);
  }

  /**
   * The keyspace of some shards only. Its reads and writes expect keys of those shards (the
   * caller routes by {@link shardOf}); counts, scans, truncation and commit events cover them
   * alone.
   */
  scope(shards: Iterable<number>): Keyspace {
    const selected = [...new Set(shards)].sort((a, b) => a - b).map((index) => {
      const shard = this.shards[index];
      if (!shard) throw new RangeError(`shard ${index} outside 0..${this.shards.length - 1}`);
      return shard;
    });
    return scopedKeyspace(this, selected, () => this.truncateShards(selected));
  }

  /** Calls `listener` with every commit group's changes (local and merged), once durable. */
  onCommit(listener: (events: readonly CommitEvent[]) => void): () => void {
    return this.loop.onCommit(listener);
  }

  /**
   * Waits for every queued mutation to be durable, brings the trees up to date and stores them
   * (so the next open finds no key to catch up), then closes the engine.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.loop.close();
    this.trees.close();
    this.sweeper.close();
    this.health.close();
    await this.loop.idle();
    if (this.health.failure) {
      // Nothing more can be stored; what was acknowledged is in the log, and the keys the trees
      // had not taken up are in their markers. The engine reports the same failure as it closes.
      await this.engine.close().catch(() => undefined);
      return;
    }
    for (const shard of this.shards) shard.catchUpSome(Infinity);
    this.loop.checkpoint();
    await this.loop.idle();
    // The stored trees now cover every key (unless that checkpoint failed): no marker is live.
    if (!this.health.failure && this.shards.every((shard) => shard.treeLag === 0)) await this.engine.dropPendingMarkers();
    await this.engine.close();
  }

  /**
   * Gives back what the store holds only to go faster (memory pressure): the decoded entries'
   * cache, and the trees' loaded nodes, down to their roots. Changed tree nodes stay until they
   * are stored, so a checkpoint comes next, after which the next shed releases them too.
   */
  shedCaches(): void {
    this.entryCache.clear();
    for (const shard of this.shards) shard.evictTree(0);
    this.loop.checkpoint();
  }

  /** Whether the store takes writes; when it does not, why. */
  get storageState(): StorageState {
    return this.health.state;
  }

  /**
   * Builds the shards' trees from the stored entries, upgrades a directory of an older format
   * (its counts are taken on the same pass), and loads the unsent outbox.
   */
  private async restore(metadata: StoreMetadata, options: StoreOptions): Promise<void> {
    if (metadata.format < FORMAT) {
      let keys = 0;
      const tombstones: PersistOp[] = [];
      for (const shard of this.shards) {
        this.clock.advancePast(shard.rebuildTree(tombstones).hlc);
        keys += shard.size;
        options.onUpgrade?.({ fromFormat: metadata.format, shardsDone: shard.index + 1, shards: this.shards.length, keys });
      }
      // The counts, the clock, the tombstone index and every tree node in one batch, then the new format.
      const ops: PersistOp[] = [...upgradeOps(this.shards.map((shard) => shard.committedCounts), this.clock.peek()), ...tombstones];
      const context = this.loop.checkpointContext();
      const checkpoints = this.shards.map((shard) => shard.checkpoint(ops, context));
      ops.push(treeIdsOp(this.loop.nextTreeId));
      await this.engine.write(ops, true);
      for (const checkpoint of checkpoints) checkpoint?.commit();
    } else {
      let queued = 0;
      for (const shard of this.shards) queued += shard.resume();
      this.loop.resumeGraveSeq(Math.max(...this.shards.map((shard) => shard.lastGraveSeq)));
      // Keys written after the last checkpoint (a crash, or a stop that could not store the
      // trees) reach the trees as after any write; a graveyard left behind goes with the next checkpoint.
      if (queued > 0) this.trees.catchUp(0);
      this.trees.scheduleCheckpoint();
      this.trees.scrub(options.onScrubbed, options.scrubDelayMs ?? DEFAULT_SCRUB_DELAY_MS);
    }
    this.changes?.restore();
    this.sweeper.schedule(0);
  }
}

/** The outbox as the replicator sees it. */
export interface StoreOutbox {
  read(afterSeq: bigint, limit: number): readonly OutboxRecord[];
  acknowledge(seqs: readonly bigint[]): Promise<void>;
  onAppend(listener: () => void): () => void;
  readonly depth: number;
}
