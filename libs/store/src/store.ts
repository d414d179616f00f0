import {
  ClockDriftError,
  type Entry,
  HybridLogicalClock,
  latestHlc,
  merge,
  type NodeId,
  type Stamp,
} from '#crdt';
import { createdNodeBytes, type MerkleSearchTree } from '#mst';
import { type PersistOp, type StorageEngine } from './engine.js';
import { EntryCache } from './entry-cache.js';
import { shardOf } from './key-order.js';
import { type CommitEvent, dataBytesOf, type Keyspace, liveEntriesOf, liveKeysOf, scanKeysOf, type Update } from './keyspace.js';
import { describeCause, StoreError } from './errors.js';
import { clockOp, floorOp, FORMAT, META_CLOCK, outboxSeqOp, readMetadata, type StoreMetadata, treeIdsOp, upgradeOps } from './metadata.js';
import { Outbox, type OutboxRecord, type StoreChange } from './outbox.js';
import { type ReplicaStore, type ShardHost } from './ports.js';
import { type StorageFaultEvent, StorageHealth, type StorageState } from './storage-health.js';
import { backupFrames } from './backup.js';
import { type CheckpointContext, type CorruptRecordHandler, type PreparedCheckpoint, readStored, Shard, type ShardStorage } from './shard.js';

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
  readonly onScrubbed?: (result: { readonly keys: number; readonly repaired: number; readonly error?: unknown }) => void;
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

type Task =
  | { readonly kind: 'update'; readonly key: string; readonly update: Update; readonly settle: Settle<Entry | undefined>; readonly trace?: string }
  | { readonly kind: 'merge'; readonly key: string; readonly entry: Entry; readonly settle: Settle<boolean> }
  | { readonly kind: 'truncate'; readonly floor?: Stamp; readonly settle: Settle<boolean>; readonly trace?: string }
  | { readonly kind: 'collect'; readonly key: string; readonly stamp: Stamp; readonly settle: Settle<boolean> }
  | { readonly kind: 'expire'; readonly key: string; readonly at: number; readonly settle: Settle<boolean> };

interface Outcome {
  readonly task: Task;
  readonly settle: () => void;
}

interface Settle<T> {
  resolve(value: T): void;
  reject(error: unknown): void;
}

const DEFAULT_ENTRY_CACHE_BYTES = 32 * 1024 * 1024;
const DEFAULT_TREE_CACHE_BYTES = 32 * 1024 * 1024;
/** Stored entries a scrub compares per slice, and how much longer than a slice it rests after it. */
const SCRUB_SLICE = 1024;
const SCRUB_REST_FACTOR = 4;
const DEFAULT_CHECKPOINT_DELAY_MS = 5000;
const DEFAULT_STORAGE_RETRY_MS = 1000;
/** How long committed keys may wait for the tree: repeated writes of a key within it cost one upsert. */
const TREE_CATCH_UP_DELAY_MS = 50;
/** Keys of a shard that may wait for its tree before a commit group brings it up to date itself. */
const TREE_LAG_LIMIT = 2048;
/** Keys brought into the trees per turn of the event loop. */
const TREE_CATCH_UP_SLICE = 256;
/** How long, and how many, acknowledged outbox records may wait for a write to carry their deletion. */
const OUTBOX_DELETIONS_DELAY_MS = 100;
const OUTBOX_DELETIONS_MAX = 4096;
const DEFAULT_EXPIRY_SWEEP_INTERVAL_MS = 1000;
const DEFAULT_EXPIRY_SWEEP_LIMIT = 1024;

/**
 * The node's keyspace: shard actors over one storage engine.
 *
 * Mutations are queued per shard and applied by one commit loop that runs once per turn of the
 * event loop (setImmediate): everything queued since the last turn, across all shards and all
 * connections, is applied in order and persisted as ONE atomic engine batch (group commit),
 * together with the outbox records of the local changes, and only then do the callers' promises
 * resolve and readers see the new state. A multi-key write queued in one call (MSET) therefore
 * lands in one batch: atomic across shards. Remote changes go through the same loop as merges.
 */
export class Store implements Keyspace, ReplicaStore, ShardHost {
  readonly nodeId: NodeId;
  readonly clock: HybridLogicalClock;
  private readonly shards: Shard[];
  private readonly entryCache: EntryCache;
  /** What every shard reads through: the engine, the shared entry cache. */
  private readonly storage: ShardStorage;
  private readonly mailboxes: Task[][];
  private readonly syncWrites: boolean;
  private readonly changes: Outbox | undefined;
  private readonly onClockDrift: StoreOptions['onClockDrift'];
  private readonly onListenerError: StoreOptions['onListenerError'];
  private readonly traceContext: StoreOptions['traceContext'];
  private readonly commitListeners = new Set<(events: readonly CommitEvent[]) => void>();
  /** Reads that missed the entry cache in this turn, answered together (see readBatched). */
  private batchedReads: { readonly key: string; readonly settle: Settle<Entry | undefined> }[] = [];
  private scheduled = false;
  /** Outbox records JetStream has stored, deleted with a later commit group (see scheduleOutboxDeletions). */
  private readonly outboxDeletions: PersistOp[] = [];
  private readonly outboxDeletionWaiters: Settle<void>[] = [];
  /** Commits the deletions by themselves when no write came to carry them in time. */
  private outboxDeletionTimer: NodeJS.Timeout | undefined;
  private treeCatchUpTimer: NodeJS.Timeout | undefined;
  /** Set when the next commit group also stores the trees' changes (a checkpoint). */
  private checkpointDue = false;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private expirySweepTimer: NodeJS.Timeout | undefined;
  private readonly expirySweepIntervalMs: number;
  private readonly expirySweepLimit: number;
  /** The shard the next sweep starts with: a shard with a backlog does not starve the others. */
  private expirySweepShard = 0;
  private expiredCount = 0;
  private nextTreeId: number;
  private nextGraveSeq = 1;
  private readonly treeBytesPerShard: number;
  private readonly checkpointDelayMs: number;
  /** The node bytes built or loaded by then (see createdNodeBytes): what the next checkpoint may wait for. */
  private treeBytesAtCheckpoint = 0;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** Whether the engine takes writes; while it does not, mutations are refused at once. */
  private readonly health: StorageHealth;
  /**
   * The clock record of the last batch known to be stored: after a reopen, a different one
   * means a batch reported as failed reached the disk after all.
   */
  private storedClock: Uint8Array | undefined;

  private constructor(
    private readonly engine: StorageEngine,
    options: StoreOptions,
    metadata: StoreMetadata,
  ) {
    this.nodeId = metadata.nodeId;
    this.clock = options.clock ?? new HybridLogicalClock();
    if (metadata.clock) this.clock.advancePast(metadata.clock);
    this.syncWrites = options.syncWrites ?? false;
    this.entryCache = new EntryCache(options.entryCacheBytes ?? DEFAULT_ENTRY_CACHE_BYTES);
    this.storage = { engine, cache: this.entryCache, onCorrupt: options.onCorruptRecord };
    this.shards = Array.from(
      { length: options.shards },
      (_, i) => new Shard(i, this.storage, metadata.floors[i]!, metadata.counts[i]!, metadata.treeRoots[i]!),
    );
    this.nextTreeId = metadata.nextTreeId;
    this.treeBytesPerShard = Math.floor((options.treeCacheBytes ?? DEFAULT_TREE_CACHE_BYTES) / options.shards);
    this.checkpointDelayMs = options.checkpointDelayMs ?? DEFAULT_CHECKPOINT_DELAY_MS;
    this.mailboxes = Array.from({ length: options.shards }, () => []);
    this.changes = options.outbox
      ? new Outbox(metadata.outboxSeq, {
          records: (afterSeq, limit) => engine.outboxRecords(afterSeq, limit),
          span: () => engine.outboxSpan(),
          onCorrupt: (seq, error) => options.onCorruptRecord?.(-1, `outbox/${seq}`, error),
        })
      : undefined;
    this.onClockDrift = options.onClockDrift;
    this.health = new StorageHealth(engine, {
      retryMs: options.storageRetryMs ?? DEFAULT_STORAGE_RETRY_MS,
      onEvent: options.onStorageFault,
      storedClock: () => this.storedClock,
      idle: async () => {
        while (this.flushing) await this.flushing;
      },
      onResumed: () => {
        this.scheduleCommit();
        this.scheduleTreeCatchUp(0);
      },
    });
    this.onListenerError = options.onListenerError;
    this.traceContext = options.traceContext;
    this.expirySweepIntervalMs = options.expirySweepIntervalMs ?? DEFAULT_EXPIRY_SWEEP_INTERVAL_MS;
    this.expirySweepLimit = options.expirySweepLimit ?? DEFAULT_EXPIRY_SWEEP_LIMIT;
  }

  static async open(options: StoreOptions): Promise<Store> {
    const { engine } = options;
    await engine.open();
    try {
      const metadata = await readMetadata(engine, options.shards, options.nodeId);
      const store = new Store(engine, options, metadata);
      await store.restore(metadata, options);
      store.storedClock = engine.getMeta(META_CLOCK);
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

  /** The replication outbox; undefined when the store does not record changes. */
  get outbox(): StoreOutbox | undefined {
    const changes = this.changes;
    if (!changes) return undefined;
    return {
      read: (afterSeq, limit) => changes.read(afterSeq, limit),
      // The deletions ride with a later commit group: under writes, no batch of their own.
      acknowledge: (seqs) => {
        const ops = changes.remove(seqs);
        if (ops.length === 0) return Promise.resolve();
        if (this.closed) return Promise.reject(new StoreError('CLOSED', 'the store is closed'));
        return new Promise<void>((resolve, reject) => {
          this.outboxDeletions.push(...ops);
          this.outboxDeletionWaiters.push({ resolve, reject });
          this.scheduleOutboxDeletions();
        });
      },
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
    return this.shards[this.shardOf(key)]!.read(key);
  }

  /** The committed entries of several keys, in their order: one storage call for the cache's misses. */
  readMany(keys: readonly string[]): (Entry | undefined)[] {
    if (keys.length === 1) return [this.read(keys[0]!)];
    const owners = keys.map((key) => this.shards[this.shardOf(key)]!);
    return readStored(this.storage, keys, (i) => owners[i]!).map((entry, i) => owners[i]!.visible(entry));
  }

  readBatched(key: string): Entry | undefined | Promise<Entry | undefined> {
    const cached = this.entryCache.get(key);
    if (cached !== undefined) return this.shards[this.shardOf(key)]!.visible(cached);
    return new Promise((resolve, reject) => {
      this.batchedReads.push({ key, settle: { resolve, reject } });
      if (this.batchedReads.length === 1) setImmediate(this.runBatchedReads);
    });
  }

  /** Runs after the I/O of this turn: every connection's reads that missed the cache, in one call. */
  private readonly runBatchedReads = (): void => {
    const reads = this.batchedReads;
    this.batchedReads = [];
    let entries: (Entry | undefined)[];
    try {
      entries = this.readMany(reads.map((read) => read.key));
    } catch (err) {
      for (const read of reads) read.settle.reject(err);
      return;
    }
    reads.forEach((read, i) => read.settle.resolve(entries[i]));
  };

  /** Queues a local mutation; resolves with the key's entry once the change is durable. */
  update(key: string, update: Update): Promise<Entry | undefined> {
    return new Promise((resolve, reject) => {
      this.enqueue(this.shardOf(key), { kind: 'update', key, update, settle: { resolve, reject }, trace: this.traceContext?.() });
    });
  }

  /** Merges another replica's state of a key; resolves once durable, true if it changed anything. */
  merge(key: string, entry: Entry): Promise<boolean> {
    this.observe(entry);
    return new Promise((resolve, reject) => {
      this.enqueue(this.shardOf(key), { kind: 'merge', key, entry, settle: { resolve, reject } });
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
          this.enqueue(shard.index, { kind: 'truncate', settle: { resolve, reject }, trace });
        }),
    );
    return Promise.all(all).then(() => undefined);
  }

  /** Applies another replica's truncation of a shard: entries not above `floor` go. */
  applyTruncate(shard: number, floor: Stamp): Promise<boolean> {
    if (!Number.isInteger(shard) || shard < 0 || shard >= this.shards.length) {
      return Promise.reject(new RangeError(`shard ${shard} outside 0..${this.shards.length - 1}`));
    }
    this.observe({ type: 'tombstone', stamp: floor });
    return new Promise((resolve, reject) => {
      this.enqueue(shard, { kind: 'truncate', floor, settle: { resolve, reject } });
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
      this.enqueue(this.shardOf(key), { kind: 'collect', key, stamp, settle: { resolve, reject } });
    });
  }

  /** Entries the expiry sweeper has replaced by their expired form since the store opened. */
  get expiredEntries(): number {
    return this.expiredCount;
  }

  /**
   * The expiry sweeper: every interval, the expiry index's earliest records up to now (at most
   * `expirySweepLimit` of them, all shards together, starting with the shard after the last one
   * served) become 'expire' tasks of the commit loop, which replaces each entry by its expired
   * form if it still expires then. A turn that used its whole budget is followed by the next one
   * as soon as its tasks are durable, so a backlog drains in bounded steps; otherwise the sweeper
   * rests for the interval. Reads never wait for it (they judge expiry themselves): it frees the
   * space, counts the key out of DBSIZE, tells watchers, and lets tombstone collection take the
   * key. Local only: every replica derives the same expired form at the same time, so nothing
   * is published (anti-entropy compares the results like any entries).
   */
  private scheduleExpirySweep(delayMs: number): void {
    if (this.closed || this.expirySweepTimer !== undefined) return;
    this.expirySweepTimer = setTimeout(() => {
      this.expirySweepTimer = undefined;
      void this.sweepExpired().then((full) => this.scheduleExpirySweep(full ? 0 : this.expirySweepIntervalMs));
    }, delayMs).unref();
  }

  /** One turn of the sweeper; true when it used its whole budget (more may be due). */
  private async sweepExpired(): Promise<boolean> {
    if (this.closed || this.health.failure) return false;
    // The store's own wall clock, the one its stamps and readers' expiry checks use (a test's, or Date.now).
    const now = this.clock.wallNow();
    let budget = this.expirySweepLimit;
    const tasks: Promise<boolean>[] = [];
    try {
      for (let i = 0; i < this.shards.length && budget > 0; i++) {
        const shard = this.shards[(this.expirySweepShard + i) % this.shards.length]!;
        for (const { at, key } of shard.expiring(now, budget)) {
          budget--;
          tasks.push(new Promise<boolean>((resolve, reject) => this.enqueue(shard.index, { kind: 'expire', key, at, settle: { resolve, reject } })));
        }
      }
    } catch (cause) {
      // A storage read failed: the next turn tries again.
      this.health.failed(new StoreError('STORAGE', `storage read failed: ${describeCause(cause)}`, { cause }));
      return false;
    }
    this.expirySweepShard = (this.expirySweepShard + 1) % this.shards.length;
    const outcomes = await Promise.allSettled(tasks);
    for (const outcome of outcomes) if (outcome.status === 'fulfilled' && outcome.value) this.expiredCount++;
    return budget === 0;
  }

  /** Layers of a shard's Merkle Search Tree: its root's layer + 1 (0 when empty). */
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
    const inScope = new Set(selected.map((shard) => shard.index));
    return {
      read: (key) => this.read(key),
      readMany: (keys) => this.readMany(keys),
      readBatched: (key) => this.readBatched(key),
      update: (key, update) => this.update(key, update),
      truncate: () => this.truncateShards(selected),
      get liveKeys() {
        return liveKeysOf(selected);
      },
      get dataBytes() {
        return dataBytesOf(selected);
      },
      scanKeys: (prefix, after, limit = Infinity) => scanKeysOf(selected, prefix, after, limit),
      liveEntries: (prefix, after) => liveEntriesOf(selected, prefix, after),
      onCommit: (listener) =>
        this.onCommit((events) => {
          const mine = events.filter((event) => inScope.has(event.shard));
          if (mine.length > 0) listener(mine);
        }),
    };
  }

  /**
   * Waits for every queued mutation to be durable, brings the trees up to date and stores them
   * (so the next open finds no key to catch up), then closes the engine.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.treeCatchUpTimer);
    clearTimeout(this.outboxDeletionTimer);
    clearTimeout(this.checkpointTimer);
    clearTimeout(this.expirySweepTimer);
    this.health.close();
    while (this.scheduled || this.flushing) {
      await (this.flushing ?? new Promise<void>((r) => setImmediate(r)));
    }
    if (this.health.failure) {
      // Nothing more can be stored; what was acknowledged is in the log, and the keys the trees
      // had not taken up are in their markers. The engine reports the same failure as it closes.
      await this.engine.close().catch(() => undefined);
      return;
    }
    for (const shard of this.shards) shard.catchUpSome(Infinity);
    this.checkpointDue = true;
    this.scheduleCommit();
    while (this.scheduled || this.flushing) {
      await (this.flushing ?? new Promise<void>((r) => setImmediate(r)));
    }
    await this.engine.close();
  }

  /** A remote stamp moves the clock forward; one too far ahead is reported and followed anyway, so that local writes keep outranking what this replica holds. */
  private observe(entry: Entry): void {
    const hlc = latestHlc(entry);
    try {
      this.clock.observe(hlc);
    } catch (err) {
      if (!(err instanceof ClockDriftError)) throw err;
      this.onClockDrift?.(err);
      this.clock.advancePast(hlc);
    }
  }

  private enqueue(shard: number, task: Task): void {
    if (this.closed) {
      task.settle.reject(new StoreError('CLOSED', 'the store is closed'));
      return;
    }
    const failure = this.health.failure;
    if (failure) {
      task.settle.reject(failure);
      return;
    }
    this.mailboxes[shard]!.push(task);
    this.scheduleCommit();
  }

  /**
   * A deleted outbox record costs nothing to keep a little longer (a restart would publish it
   * again, and JetStream would drop the duplicate), while a commit group of its own costs a
   * storage write: deletions wait for a write to carry them, up to a bound of time and count.
   */
  private scheduleOutboxDeletions(): void {
    if (this.outboxDeletions.length >= OUTBOX_DELETIONS_MAX) {
      this.scheduleCommit();
      return;
    }
    this.outboxDeletionTimer ??= setTimeout(() => {
      this.outboxDeletionTimer = undefined;
      if (this.outboxDeletions.length > 0) this.scheduleCommit();
    }, OUTBOX_DELETIONS_DELAY_MS).unref();
  }

  /**
   * Brings the shards' trees up to date in slices of a bounded number of keys, each in its own
   * turn of the event loop, so that an announcement or a HASH finds little left to do and no
   * single turn holds clients up for long.
   */
  private scheduleTreeCatchUp(delayMs: number): void {
    if (this.treeCatchUpTimer !== undefined || this.closed) return;
    this.treeCatchUpTimer = setTimeout(() => {
      this.treeCatchUpTimer = undefined;
      let budget = TREE_CATCH_UP_SLICE;
      try {
        for (const shard of this.shards) {
          if (budget === 0) break;
          budget -= shard.catchUpSome(budget);
        }
      } catch (cause) {
        // A storage read failed (or the engine is being reopened): the keys stay queued.
        this.health.failed(new StoreError('STORAGE', `storage read failed: ${describeCause(cause)}`, { cause }));
        this.scheduleTreeCatchUp(this.health.retryMs);
        return;
      }
      if (this.shards.some((shard) => shard.treeLag > 0)) this.scheduleTreeCatchUp(0);
      this.scheduleCheckpoint();
    }, delayMs).unref();
  }

  /**
   * Compares every shard's stored tree with its stored entries in the background, in slices
   * with rests between them, and repairs the tree where they disagree: a record lost or
   * corrupted behind the store's back (a disk fault, a hand edit) then shows in the shard's root,
   * and anti-entropy fetches it from a peer. Open stays quick; the pass costs a read of the data.
   */
  private scrub(onScrubbed: StoreOptions['onScrubbed']): void {
    let shard = 0;
    let after: string | undefined;
    let keys = 0;
    let repaired = 0;
    const slice = (): void => {
      if (this.closed) return;
      const began = performance.now();
      let result: ReturnType<Shard['scrubSlice']>;
      try {
        result = this.shards[shard]!.scrubSlice(after, SCRUB_SLICE);
      } catch (error) {
        // A storage read failed: the scrub stops here (the next open runs it again).
        onScrubbed?.({ keys, repaired, error });
        return;
      }
      keys += result.compared;
      repaired += result.repaired;
      if (result.repaired > 0) this.scheduleTreeCatchUp(0);
      after = result.last;
      if (after === undefined) shard++;
      // A background pass: it rests four times as long as it worked, so that clients keep at
      // least four fifths of the event loop (a full pass over 20M keys takes minutes).
      if (shard < this.shards.length) setTimeout(slice, SCRUB_REST_FACTOR * (performance.now() - began)).unref();
      else onScrubbed?.({ keys, repaired });
    };
    setImmediate(slice).unref();
  }

  /**
   * Stores the trees' changes with a commit group a little later: a node changed by many writes
   * meanwhile is written once, and a restart finds the keys written since in their markers.
   */
  private scheduleCheckpoint(): void {
    if (this.checkpointTimer !== undefined || this.closed) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      this.checkpointDue = true;
      this.scheduleCommit();
    }, this.checkpointDelayMs).unref();
  }

  private scheduleCommit(): void {
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.runCommitLoop);
    }
  }

  private readonly runCommitLoop = (): void => {
    if (this.flushing) return; // the running group re-checks the mailboxes when it ends
    this.flushing = this.commitGroups().finally(() => {
      this.flushing = undefined;
    });
  };

  private async commitGroups(): Promise<void> {
    while (this.scheduled) {
      this.scheduled = false;
      await this.commitGroup();
    }
  }

  private async commitGroup(): Promise<void> {
    const failure = this.health.failure;
    if (failure) {
      this.refuseQueued(failure);
      return;
    }
    const outcomes: Outcome[] = [];
    const touched: Shard[] = [];
    const outboxOps: PersistOp[] = [];
    const groups: Task[][] = [];
    for (let i = 0; i < this.mailboxes.length; i++) {
      const tasks = this.mailboxes[i]!;
      if (tasks.length === 0) continue;
      this.mailboxes[i] = [];
      touched.push(this.shards[i]!);
      groups.push(tasks);
    }
    this.prefetch(touched, groups);
    touched.forEach((shard, i) => {
      for (const task of groups[i]!) outcomes.push(this.apply(shard, task, outboxOps));
    });
    const deletions = this.outboxDeletions.splice(0);
    const deletionWaiters = this.outboxDeletionWaiters.splice(0);
    if (touched.length === 0 && deletions.length === 0 && !this.checkpointDue) return;

    let checkpoints: PreparedCheckpoint[];
    try {
      checkpoints = await this.persist(touched, outboxOps, deletions);
    } catch (cause) {
      for (const shard of touched) shard.discard();
      this.changes?.discard();
      const error = new StoreError('STORAGE', `storage write failed: ${describeCause(cause)}`, { cause });
      for (const outcome of outcomes) outcome.task.settle.reject(error);
      for (const waiter of deletionWaiters) waiter.reject(error);
      this.health.failed(error);
      return;
    }
    for (const waiter of deletionWaiters) waiter.resolve();
    const events = this.commitListeners.size > 0 ? committedEvents(touched) : undefined;
    for (const shard of touched) {
      shard.commit();
      // Writes faster than the background slices: the writer pays for the tree, so the keys
      // waiting for it (and the entries they hold) stay bounded.
      if (shard.treeLag > TREE_LAG_LIMIT) shard.catchUpSome(shard.treeLag - TREE_LAG_LIMIT / 2);
    }
    for (const checkpoint of checkpoints) checkpoint.commit();
    if (checkpoints.length > 0) {
      for (const shard of this.shards) shard.evictTree(this.treeBytesPerShard);
      this.treeBytesAtCheckpoint = createdNodeBytes();
    } else if (createdNodeBytes() - this.treeBytesAtCheckpoint > this.treeBytesPerShard * this.shards.length) {
      // Changed tree nodes stay in memory until stored, and loaded ones until the sweep after a
      // checkpoint: under heavy writes the next checkpoint comes early, so the trees' memory
      // stays near their budget.
      this.checkpointDue = true;
      this.scheduleCommit();
    }
    if (touched.length > 0) this.scheduleTreeCatchUp(TREE_CATCH_UP_DELAY_MS);
    this.changes?.commit();
    for (const outcome of outcomes) outcome.settle();
    if (events && events.length > 0) {
      for (const listener of this.commitListeners) {
        try {
          listener(events);
        } catch (err) {
          // A watcher's failure is its own; the commit already happened for everyone.
          this.onListenerError?.(err);
        }
      }
    }
  }

  /** Calls `listener` with every commit group's changes (local and merged), once durable. */
  onCommit(listener: (events: readonly CommitEvent[]) => void): () => void {
    this.commitListeners.add(listener);
    return () => this.commitListeners.delete(listener);
  }

  /**
   * Reads the stored entries of every key a group's mutations will read, all shards together, in
   * one engine call. A failure is left to the tasks: each one's own read meets it and rejects that
   * task alone.
   */
  private prefetch(shards: readonly Shard[], groups: readonly (readonly Task[])[]): void {
    const keys: string[] = [];
    const owners: Shard[] = [];
    const seen = new Set<string>();
    shards.forEach((shard, i) => {
      for (const task of groups[i]!) {
        if (task.kind === 'truncate' || seen.has(task.key) || !shard.unread(task.key)) continue;
        seen.add(task.key);
        keys.push(task.key);
        owners.push(shard);
      }
    });
    if (keys.length === 0) return;
    try {
      readStored(this.storage, keys, (i) => owners[i]!).forEach((entry, i) => owners[i]!.prefetched(keys[i]!, entry));
    } catch {
      // see above
    }
  }

  /** Applies one task to the shard's staged state; the outcome settles its caller once durable. */
  private apply(shard: Shard, task: Task, outboxOps: PersistOp[]): Outcome {
    try {
      switch (task.kind) {
        case 'update': {
          const prev = shard.current(task.key);
          const stamp = this.stamp();
          const mutation = task.update(prev, stamp);
          if (mutation && mutation.entry !== prev) {
            shard.stage(task.key, mutation.entry);
            this.record({ kind: 'entry', shard: shard.index, key: task.key, entry: mutation.change }, outboxOps, stamp, task.trace);
          }
          const entry = mutation ? mutation.entry : prev;
          return { task, settle: () => task.settle.resolve(entry) };
        }
        case 'merge': {
          const prev = shard.current(task.key);
          const merged = shard.admits(task.entry) ? merge(prev, task.entry) : prev;
          const changed = merged !== prev && merged !== undefined;
          if (changed) shard.stage(task.key, merged);
          return { task, settle: () => task.settle.resolve(changed) };
        }
        case 'truncate': {
          const floor = task.floor ?? this.stamp();
          const changed = shard.stageTruncate(floor);
          if (changed && !task.floor) this.record({ kind: 'truncate', shard: shard.index, floor }, outboxOps, floor, task.trace);
          return { task, settle: () => task.settle.resolve(changed) };
        }
        case 'collect': {
          const changed = shard.stageCollect(task.key, task.stamp);
          return { task, settle: () => task.settle.resolve(changed) };
        }
        case 'expire': {
          const expired = shard.stageExpiry(task.key, task.at, Date.now());
          // Its stamp may lie just past the entry's latest (see expiredForm): later writes must outrank it.
          if (expired) this.observe(expired);
          return { task, settle: () => task.settle.resolve(expired !== undefined) };
        }
      }
    } catch (err) {
      return { task, settle: () => task.settle.reject(err) };
    }
  }

  private record(change: StoreChange, outboxOps: PersistOp[], written: Stamp, trace: string | undefined): void {
    this.changes?.stage(change, outboxOps, written.hlc, trace);
  }

  /**
   * Gives back what the store holds only to go faster (memory pressure): the decoded entries'
   * cache, and the trees' loaded nodes, down to their roots. Changed tree nodes stay until they
   * are stored, so a checkpoint comes next, after which the next shed releases them too.
   */
  shedCaches(): void {
    this.entryCache.clear();
    for (const shard of this.shards) shard.evictTree(0);
    this.checkpointDue = true;
    this.scheduleCommit();
  }

  /** Whether the store takes writes; when it does not, why. */
  get storageState(): StorageState {
    return this.health.state;
  }

  /** Everything queued meets the failure at once, rather than a write each. */
  private refuseQueued(error: StoreError): void {
    for (let i = 0; i < this.mailboxes.length; i++) {
      for (const task of this.mailboxes[i]!) task.settle.reject(error);
      this.mailboxes[i] = [];
    }
    this.outboxDeletions.length = 0;
    for (const waiter of this.outboxDeletionWaiters.splice(0)) waiter.reject(error);
  }

  /** Record ids and graveyard sequence numbers for the checkpoints of one batch, and its time. */
  private checkpointContext(): CheckpointContext {
    return { nextNodeId: () => this.nextTreeId++, nextGraveSeq: () => this.nextGraveSeq++, now: Date.now() };
  }

  /** Writes the group's batch; returns the tree checkpoints it carried, to commit or abort with it. */
  private async persist(shards: readonly Shard[], outboxOps: PersistOp[], outboxDeletions: readonly PersistOp[]): Promise<PreparedCheckpoint[]> {
    const ops: PersistOp[] = [...outboxDeletions];
    for (const shard of shards) {
      const floor = shard.stagedTruncation;
      if (floor) ops.push(floorOp(shard.index, floor));
      shard.persist(ops);
    }
    if (this.changes?.hasStaged) {
      ops.push(...outboxOps);
      ops.push(outboxSeqOp(this.changes.sequence));
    }
    let clock: PersistOp | undefined;
    if (shards.length > 0) {
      // Every stamp this group stores is at or below the clock: after a restart the clock starts
      // past it without reading an entry.
      clock = clockOp(this.clock.peek());
      ops.push(clock);
    }
    const checkpoints: PreparedCheckpoint[] = [];
    if (this.checkpointDue) {
      this.checkpointDue = false;
      const firstId = this.nextTreeId;
      const context = this.checkpointContext();
      for (const shard of this.shards) {
        const checkpoint = shard.checkpoint(ops, context);
        if (checkpoint) checkpoints.push(checkpoint);
      }
      if (this.nextTreeId !== firstId) ops.push(treeIdsOp(this.nextTreeId));
    }
    try {
      if (ops.length > 0) await this.engine.write(ops, this.syncWrites);
    } catch (err) {
      for (const checkpoint of checkpoints) checkpoint.abort();
      throw err;
    }
    if (clock?.type === 'meta-put') this.storedClock = clock.value;
    return checkpoints;
  }

  private stamp(): Stamp {
    return { hlc: this.clock.tick(), node: this.nodeId };
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
      const context = this.checkpointContext();
      const checkpoints = this.shards.map((shard) => shard.checkpoint(ops, context));
      ops.push(treeIdsOp(this.nextTreeId));
      await this.engine.write(ops, true);
      for (const checkpoint of checkpoints) checkpoint?.commit();
    } else {
      let queued = 0;
      for (const shard of this.shards) queued += shard.resume();
      this.nextGraveSeq = Math.max(...this.shards.map((shard) => shard.lastGraveSeq)) + 1;
      // Keys written after the last checkpoint (a crash, or a stop that could not store the
      // trees) reach the trees as after any write; a graveyard left behind goes with the next checkpoint.
      if (queued > 0) this.scheduleTreeCatchUp(0);
      this.scheduleCheckpoint();
      this.scrub(options.onScrubbed);
    }
    this.changes?.restore();
    this.scheduleExpirySweep(0);
  }
}


function committedEvents(shards: readonly Shard[]): CommitEvent[] {
  const events: CommitEvent[] = [];
  for (const shard of shards) {
    if (shard.stagedTruncation) events.push({ kind: 'truncate', shard: shard.index });
    for (const [key, entry] of shard.stagedEntries()) events.push({ kind: 'entry', shard: shard.index, key, entry });
  }
  return events;
}

/** The outbox as the replicator sees it. */
export interface StoreOutbox {
  read(afterSeq: bigint, limit: number): readonly OutboxRecord[];
  acknowledge(seqs: readonly bigint[]): Promise<void>;
  onAppend(listener: () => void): () => void;
  readonly depth: number;
}
