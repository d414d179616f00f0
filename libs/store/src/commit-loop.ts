import { ClockDriftError, type Entry, type HybridLogicalClock, latestHlc, merge, type NodeId, type Stamp } from '#crdt';
import { createdNodeBytes } from '#mst';
import { type PersistOp, type StorageEngine } from './engine.js';
import { describeCause, StoreError } from './errors.js';
import { type CommitEvent, type Settle, type Update } from './keyspace.js';
import { clockOp, floorOp, outboxSeqOp, treeIdsOp } from './metadata.js';
import { type Outbox, type StoreChange } from './outbox.js';
import { type CheckpointContext, type PreparedCheckpoint, readStored, type Shard, type ShardStorage } from './shard.js';
import { type StorageHealth } from './storage-health.js';

export type Task =
  | { readonly kind: 'update'; readonly key: string; readonly update: Update; readonly settle: Settle<Entry | undefined>; readonly trace?: string }
  | { readonly kind: 'merge'; readonly key: string; readonly entry: Entry; readonly settle: Settle<boolean> }
  | { readonly kind: 'truncate'; readonly floor?: Stamp; readonly settle: Settle<boolean>; readonly trace?: string }
  | { readonly kind: 'collect'; readonly key: string; readonly stamp: Stamp; readonly settle: Settle<boolean> }
  | { readonly kind: 'expire'; readonly key: string; readonly at: number; readonly settle: Settle<boolean> };

interface Outcome {
  readonly task: Task;
  readonly settle: () => void;
}

export interface CommitLoopOptions {
  readonly engine: StorageEngine;
  readonly shards: readonly Shard[];
  /** What every shard reads through: the engine, the shared entry cache. */
  readonly storage: ShardStorage;
  readonly clock: HybridLogicalClock;
  readonly nodeId: NodeId;
  readonly health: StorageHealth;
  /** The replication outbox, when the store records local changes. */
  readonly changes: Outbox | undefined;
  readonly syncWrites: boolean;
  /** Heap bytes of tree nodes per shard that the checkpoints keep the trees near. */
  readonly treeBytesPerShard: number;
  /** The next tree record id and graveyard sequence number, from the metadata. */
  readonly nextTreeId: number;
  readonly onClockDrift?: ((error: ClockDriftError) => void) | undefined;
  readonly onListenerError?: ((error: unknown) => void) | undefined;
  /** Called after every group that committed entries: the trees have keys to take up. */
  readonly onEntriesCommitted: () => void;
}

/** How long, and how many, acknowledged outbox records may wait for a write to carry their deletion. */
const OUTBOX_DELETIONS_DELAY_MS = 100;
const OUTBOX_DELETIONS_MAX = 4096;
/** Keys of a shard that may wait for its tree before a commit group brings it up to date itself. */
const TREE_LAG_LIMIT = 2048;
/**
 * Writes of tree checkpoints past which a commit group takes no further shard's checkpoint. A
 * checkpoint of every shard at once holds the group that carries it, and the writes queued behind
 * it, for the hashing, encoding and writing of every node changed since the last: 50-65 ms at
 * 2,000 writes/s, 0.5 s under random writes over 1M keys. A few shards a group, and never in two
 * groups in a row that carry writes (those that queued behind a checkpoint then go in a group
 * of their own), keeps most of that out of the writes' latency.
 */
const CHECKPOINT_OPS_PER_GROUP = 1024;

/**
 * The store's single writer: mutations are queued per shard and applied by one loop that runs
 * once per turn of the event loop (setImmediate). Everything queued since the last turn, across
 * all shards and all connections, is applied in order against the shards' staged state and
 * persisted as ONE atomic engine batch (group commit), together with the outbox records of the
 * local changes and, while one is due, the checkpoint of a shard's tree or a few; only then do the callers'
 * promises resolve and readers see the new state. A multi-key write queued in one call (MSET)
 * therefore lands in one batch: atomic across shards. Remote changes go through the same loop as
 * merges, and so do the background tasks (expiry, tombstone collection).
 */
export class CommitLoop {
  readonly #options: CommitLoopOptions;
  readonly #mailboxes: Task[][];
  readonly #listeners = new Set<(events: readonly CommitEvent[]) => void>();
  #scheduled = false;
  #flushing: Promise<void> | undefined;
  #closed = false;
  /** Outbox records JetStream has stored, deleted with a later commit group (see acknowledgeOutbox). */
  readonly #outboxDeletions: PersistOp[] = [];
  readonly #outboxDeletionWaiters: Settle<void>[] = [];
  /** Commits the deletions by themselves when no write came to carry them in time. */
  #outboxDeletionTimer: NodeJS.Timeout | undefined;
  /** Shards whose trees' changes the next commit groups store (a checkpoint), a few shards a group. */
  readonly #checkpointsDue = new Set<Shard>();
  #lastGroupCheckpointed = false;
  #nextTreeId: number;
  #nextGraveSeq = 1;
  /** The node bytes built or loaded by the last round of checkpoints (see createdNodeBytes): what the next may wait for. */
  #treeBytesAtCheckpoint = 0;
  /**
   * The clock record of the last batch known to be stored: after a reopen, a different one
   * means a batch reported as failed reached the disk after all.
   */
  storedClock: Uint8Array | undefined;

  constructor(options: CommitLoopOptions) {
    this.#options = options;
    this.#mailboxes = options.shards.map(() => []);
    this.#nextTreeId = options.nextTreeId;
  }

  /** Queues a task for the shard's next commit group; refused at once when closed or while writes fail. */
  enqueue(shard: number, task: Task): void {
    if (this.#closed) {
      task.settle.reject(new StoreError('CLOSED', 'the store is closed'));
      return;
    }
    const failure = this.#options.health.failure;
    if (failure) {
      task.settle.reject(failure);
      return;
    }
    this.#mailboxes[shard]!.push(task);
    this.schedule();
  }

  /**
   * Deletes outbox records with a later commit group. A deleted record costs nothing to keep a
   * little longer (a restart would publish it again, and JetStream would drop the duplicate),
   * while a commit group of its own costs a storage write: deletions wait for a write to carry
   * them, up to a bound of time and count.
   */
  deleteOutboxRecords(ops: readonly PersistOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    if (this.#closed) return Promise.reject(new StoreError('CLOSED', 'the store is closed'));
    return new Promise<void>((resolve, reject) => {
      this.#outboxDeletions.push(...ops);
      this.#outboxDeletionWaiters.push({ resolve, reject });
      if (this.#outboxDeletions.length >= OUTBOX_DELETIONS_MAX) {
        this.schedule();
        return;
      }
      this.#outboxDeletionTimer ??= setTimeout(() => {
        this.#outboxDeletionTimer = undefined;
        if (this.#outboxDeletions.length > 0) this.schedule();
      }, OUTBOX_DELETIONS_DELAY_MS).unref();
    });
  }

  /** Makes the next commit groups store every shard's tree changes, and runs them if none is queued. */
  checkpoint(): void {
    for (const shard of this.#options.shards) this.#checkpointsDue.add(shard);
    this.schedule();
  }

  schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#run);
    }
  }

  /** Calls `listener` with every commit group's changes (local and merged), once durable. */
  onCommit(listener: (events: readonly CommitEvent[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Resolves once nothing is queued or being written. */
  async idle(): Promise<void> {
    while (this.#scheduled || this.#flushing) {
      await (this.#flushing ?? new Promise<void>((r) => setImmediate(r)));
    }
  }

  /** Resolves once no batch is being written (queued tasks may remain). */
  async quiet(): Promise<void> {
    while (this.#flushing) await this.#flushing;
  }

  /** Refuses new tasks; what is queued still commits (see {@link idle}). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#outboxDeletionTimer);
  }

  /** Record ids and graveyard sequence numbers for the checkpoints of one batch, and its time. */
  checkpointContext(): CheckpointContext {
    return { nextNodeId: () => this.#nextTreeId++, nextGraveSeq: () => this.#nextGraveSeq++, now: Date.now() };
  }

  get nextTreeId(): number {
    return this.#nextTreeId;
  }

  /** After an open: graveyard records already stored keep their numbers. */
  resumeGraveSeq(lastStored: number): void {
    this.#nextGraveSeq = lastStored + 1;
  }

  /** A remote stamp moves the clock forward; one too far ahead is reported and followed anyway, so that local writes keep outranking what this replica holds. */
  observe(entry: Entry): void {
    const hlc = latestHlc(entry);
    try {
      this.#options.clock.observe(hlc);
    } catch (err) {
      if (!(err instanceof ClockDriftError)) throw err;
      this.#options.onClockDrift?.(err);
      this.#options.clock.advancePast(hlc);
    }
  }

  readonly #run = (): void => {
    if (this.#flushing) return; // the running group re-checks the mailboxes when it ends
    this.#flushing = this.#groups().finally(() => {
      this.#flushing = undefined;
    });
  };

  async #groups(): Promise<void> {
    while (this.#scheduled) {
      this.#scheduled = false;
      await this.#group();
    }
  }

  async #group(): Promise<void> {
    const { shards, health, changes } = this.#options;
    const failure = health.failure;
    if (failure) {
      this.#refuseQueued(failure);
      return;
    }
    const outcomes: Outcome[] = [];
    const touched: Shard[] = [];
    const outboxOps: PersistOp[] = [];
    const groups: Task[][] = [];
    for (let i = 0; i < this.#mailboxes.length; i++) {
      const tasks = this.#mailboxes[i]!;
      if (tasks.length === 0) continue;
      this.#mailboxes[i] = [];
      touched.push(shards[i]!);
      groups.push(tasks);
    }
    this.#prefetch(touched, groups);
    touched.forEach((shard, i) => {
      for (const task of groups[i]!) outcomes.push(this.#apply(shard, task, outboxOps));
    });
    const deletions = this.#outboxDeletions.splice(0);
    const deletionWaiters = this.#outboxDeletionWaiters.splice(0);
    if (touched.length === 0 && deletions.length === 0 && this.#checkpointsDue.size === 0) return;

    let checkpoints: ShardCheckpoint[];
    try {
      checkpoints = await this.#persist(touched, outboxOps, deletions);
    } catch (cause) {
      for (const shard of touched) shard.discard();
      changes?.discard();
      const error = new StoreError('STORAGE', `storage write failed: ${describeCause(cause)}`, { cause });
      for (const outcome of outcomes) outcome.task.settle.reject(error);
      for (const waiter of deletionWaiters) waiter.reject(error);
      health.failed(error);
      return;
    }
    for (const waiter of deletionWaiters) waiter.resolve();
    const events = this.#listeners.size > 0 ? committedEvents(touched) : undefined;
    for (const shard of touched) {
      shard.commit();
      // Writes faster than the background slices: the writer pays for the tree, so the keys
      // waiting for it (and the entries they hold) stay bounded.
      if (shard.treeLag > TREE_LAG_LIMIT) shard.catchUpSome(shard.treeLag - TREE_LAG_LIMIT / 2);
    }
    const { treeBytesPerShard } = this.#options;
    for (const { shard, prepared } of checkpoints) {
      prepared?.commit();
      shard.evictTree(treeBytesPerShard);
    }
    if (this.#checkpointsDue.size > 0) this.schedule();
    else if (checkpoints.length > 0) this.#treeBytesAtCheckpoint = createdNodeBytes();
    else if (createdNodeBytes() - this.#treeBytesAtCheckpoint > treeBytesPerShard * shards.length) {
      // Changed tree nodes stay in memory until stored, and loaded ones until the sweep after a
      // checkpoint: under heavy writes the next checkpoint comes early, so the trees' memory
      // stays near their budget.
      this.checkpoint();
    }
    if (touched.length > 0) this.#options.onEntriesCommitted();
    changes?.commit();
    for (const outcome of outcomes) outcome.settle();
    if (events && events.length > 0) {
      for (const listener of this.#listeners) {
        try {
          listener(events);
        } catch (err) {
          // A watcher's failure is its own; the commit already happened for everyone.
          this.#options.onListenerError?.(err);
        }
      }
    }
  }

  /**
   * Reads the stored entries of every key a group's mutations will read, all shards together, in
   * one engine call. A failure is left to the tasks: each one's own read meets it and rejects that
   * task alone.
   */
  #prefetch(shards: readonly Shard[], groups: readonly (readonly Task[])[]): void {
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
      readStored(this.#options.storage, keys, (i) => owners[i]!).forEach((entry, i) => owners[i]!.prefetched(keys[i]!, entry));
    } catch {
      // see above
    }
  }

  /** Applies one task to the shard's staged state; the outcome settles its caller once durable. */
  #apply(shard: Shard, task: Task, outboxOps: PersistOp[]): Outcome {
    try {
      switch (task.kind) {
        case 'update': {
          const prev = shard.current(task.key);
          const stamp = this.#stamp();
          const mutation = task.update(prev, stamp);
          if (mutation && mutation.entry !== prev) {
            shard.stage(task.key, mutation.entry);
            this.#record({ kind: 'entry', shard: shard.index, key: task.key, entry: mutation.change }, outboxOps, stamp, task.trace);
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
          const floor = task.floor ?? this.#stamp();
          const changed = shard.stageTruncate(floor);
          if (changed && !task.floor) this.#record({ kind: 'truncate', shard: shard.index, floor }, outboxOps, floor, task.trace);
          return { task, settle: () => task.settle.resolve(changed) };
        }
        case 'collect': {
          const changed = shard.stageCollect(task.key, task.stamp);
          return { task, settle: () => task.settle.resolve(changed) };
        }
        case 'expire': {
          // Due by the store's own wall clock, the one the sweeper and the readers judge expiry by.
          const expired = shard.stageExpiry(task.key, task.at, this.#options.clock.wallNow());
          // Its stamp may lie just past the entry's latest (see expiredForm): later writes must outrank it.
          if (expired) this.observe(expired);
          return { task, settle: () => task.settle.resolve(expired !== undefined) };
        }
      }
    } catch (err) {
      return { task, settle: () => task.settle.reject(err) };
    }
  }

  #record(change: StoreChange, outboxOps: PersistOp[], written: Stamp, trace: string | undefined): void {
    this.#options.changes?.stage(change, outboxOps, written.hlc, trace);
  }

  #stamp(): Stamp {
    return { hlc: this.#options.clock.tick(), node: this.#options.nodeId };
  }

  /** Everything queued meets the failure at once, rather than a write each. */
  #refuseQueued(error: StoreError): void {
    for (let i = 0; i < this.#mailboxes.length; i++) {
      for (const task of this.#mailboxes[i]!) task.settle.reject(error);
      this.#mailboxes[i] = [];
    }
    this.#outboxDeletions.length = 0;
    for (const waiter of this.#outboxDeletionWaiters.splice(0)) waiter.reject(error);
  }

  /** Writes the group's batch; returns the tree checkpoints it carried, to commit or abort with it. */
  async #persist(touched: readonly Shard[], outboxOps: PersistOp[], outboxDeletions: readonly PersistOp[]): Promise<ShardCheckpoint[]> {
    const { changes, clock, engine } = this.#options;
    const ops: PersistOp[] = [...outboxDeletions];
    for (const shard of touched) {
      const floor = shard.stagedTruncation;
      if (floor) ops.push(floorOp(shard.index, floor));
      shard.persist(ops);
    }
    if (changes?.hasStaged) {
      ops.push(...outboxOps);
      ops.push(outboxSeqOp(changes.sequence));
    }
    let clockRecord: PersistOp | undefined;
    if (touched.length > 0) {
      // Every stamp this group stores is at or below the clock: after a restart the clock starts
      // past it without reading an entry.
      clockRecord = clockOp(clock.peek());
      ops.push(clockRecord);
    }
    const checkpoints: ShardCheckpoint[] = [];
    if (this.#checkpointsDue.size > 0 && (touched.length === 0 || !this.#lastGroupCheckpointed)) {
      const firstId = this.#nextTreeId;
      const firstOp = ops.length;
      const context = this.checkpointContext();
      for (const shard of this.#checkpointsDue) {
        if (ops.length - firstOp >= CHECKPOINT_OPS_PER_GROUP) break;
        this.#checkpointsDue.delete(shard);
        checkpoints.push({ shard, prepared: shard.checkpoint(ops, context) });
      }
      if (this.#nextTreeId !== firstId) ops.push(treeIdsOp(this.#nextTreeId));
    }
    this.#lastGroupCheckpointed = checkpoints.some(({ prepared }) => prepared !== undefined);
    try {
      if (ops.length > 0) await engine.write(ops, this.#options.syncWrites);
    } catch (err) {
      for (const { shard, prepared } of checkpoints) {
        prepared?.abort();
        // Stored once writes resume (the store schedules a group then).
        this.#checkpointsDue.add(shard);
      }
      throw err;
    }
    if (clockRecord?.type === 'meta-put') this.storedClock = clockRecord.value;
    return checkpoints;
  }
}

/** A shard's checkpoint in a commit group; none prepared when its tree had nothing to store. */
interface ShardCheckpoint {
  readonly shard: Shard;
  readonly prepared: PreparedCheckpoint | undefined;
}

function committedEvents(shards: readonly Shard[]): CommitEvent[] {
  const events: CommitEvent[] = [];
  for (const shard of shards) {
    if (shard.stagedTruncation) events.push({ kind: 'truncate', shard: shard.index });
    for (const [key, entry] of shard.stagedEntries()) events.push({ kind: 'entry', shard: shard.index, key, entry });
  }
  return events;
}
