import { type EventLoopUtilization, performance } from 'node:perf_hooks';
import { type CommitLoop } from './commit-loop.js';
import { describeCause, StoreError } from './errors.js';
import { type Shard } from './shard.js';
import { type StorageHealth } from './storage-health.js';

export interface ScrubResult {
  readonly keys: number;
  readonly repaired: number;
  readonly error?: unknown;
}

export interface TreeUpkeepOptions {
  readonly shards: readonly Shard[];
  readonly loop: CommitLoop;
  readonly health: StorageHealth;
  /** How long the trees' changes wait before a commit group stores them. */
  readonly checkpointDelayMs: number;
}

/** How long committed keys may wait for the tree: repeated writes of a key within it cost one upsert. */
export const TREE_CATCH_UP_DELAY_MS = 50;
/** Keys brought into the trees per turn of the event loop. */
const TREE_CATCH_UP_SLICE = 256;
/** Stored entries a scrub compares per slice, and how much longer than a slice it rests after it. */
const SCRUB_SLICE = 1024;
const SCRUB_REST_FACTOR = 4;
/** The rest while clients kept the event loop at least half busy during the last one. */
const SCRUB_BUSY_REST_FACTOR = 16;
const SCRUB_BUSY_UTILIZATION = 0.5;

/**
 * The background work that keeps the shards' Merkle Search Trees in step with their entries, off
 * the request path: taking up committed keys in slices, storing the trees' changes by
 * checkpoints, and the scrub that follows every open.
 */
export class TreeUpkeep {
  readonly #options: TreeUpkeepOptions;
  #catchUpTimer: NodeJS.Timeout | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: TreeUpkeepOptions) {
    this.#options = options;
  }

  /**
   * Brings the shards' trees up to date in slices of a bounded number of keys, each in its own
   * turn of the event loop, so that an announcement or a HASH finds little left to do and no
   * single turn holds clients up for long.
   */
  catchUp(delayMs: number): void {
    if (this.#catchUpTimer !== undefined || this.#closed) return;
    this.#catchUpTimer = setTimeout(() => {
      this.#catchUpTimer = undefined;
      const { shards, health } = this.#options;
      let budget = TREE_CATCH_UP_SLICE;
      try {
        for (const shard of shards) {
          if (budget === 0) break;
          budget -= shard.catchUpSome(budget);
        }
      } catch (cause) {
        // A storage read failed (or the engine is being reopened): the keys stay queued.
        health.failed(new StoreError('STORAGE', `storage read failed: ${describeCause(cause)}`, { cause }));
        this.catchUp(health.retryMs);
        return;
      }
      if (shards.some((shard) => shard.treeLag > 0)) this.catchUp(0);
      this.scheduleCheckpoint();
    }, delayMs).unref();
  }

  /**
   * Stores the trees' changes with a commit group a little later: a node changed by many writes
   * meanwhile is written once, and a restart finds the keys written since in their markers.
   */
  scheduleCheckpoint(): void {
    if (this.#checkpointTimer !== undefined || this.#closed) return;
    this.#checkpointTimer = setTimeout(() => {
      this.#checkpointTimer = undefined;
      this.#options.loop.checkpoint();
    }, this.#options.checkpointDelayMs).unref();
  }

  /**
   * Compares every shard's stored tree with its stored entries in the background, in slices
   * with rests between them, and repairs the tree where they disagree: a record lost or
   * corrupted behind the store's back (a disk fault, a hand edit) then shows in the shard's root,
   * and anti-entropy fetches it from a peer. Open stays quick; the pass costs a read of the data,
   * and starts `delayMs` after the open, so that it does not slow the node's start and first
   * requests. Shards that held nothing at the open are left out (see Shard.scrubDue): a new
   * node scrubs nothing, rather than what its first clients are writing.
   */
  scrub(onScrubbed: ((result: ScrubResult) => void) | undefined, delayMs: number): void {
    const shards = this.#options.shards.filter((shard) => shard.scrubDue);
    let shard = 0;
    let after: string | undefined;
    let keys = 0;
    let repaired = 0;
    let rest: EventLoopUtilization | undefined;
    const slice = (): void => {
      if (this.#closed) return;
      const busy = rest !== undefined && performance.eventLoopUtilization(rest).utilization >= SCRUB_BUSY_UTILIZATION;
      const began = performance.now();
      let result: ReturnType<Shard['scrubSlice']>;
      try {
        result = shards[shard]!.scrubSlice(after, SCRUB_SLICE);
      } catch (error) {
        // A storage read failed: the scrub stops here (the next open runs it again).
        onScrubbed?.({ keys, repaired, error });
        return;
      }
      keys += result.compared;
      repaired += result.repaired;
      if (result.repaired > 0) this.catchUp(0);
      after = result.last;
      if (after === undefined) shard++;
      // A background pass: it rests four times as long as it worked, so that clients keep at
      // least four fifths of the event loop (a full pass over 20M keys takes minutes), and
      // sixteen times while they keep the loop busy, so that a loaded node gives it less.
      if (shard < shards.length) {
        rest = performance.eventLoopUtilization();
        setTimeout(slice, (busy ? SCRUB_BUSY_REST_FACTOR : SCRUB_REST_FACTOR) * (performance.now() - began)).unref();
      } else onScrubbed?.({ keys, repaired });
    };
    setTimeout(() => (shards.length > 0 ? slice() : onScrubbed?.({ keys, repaired })), delayMs).unref();
  }

  /** Stops scheduling; the store's close brings the trees up to date and stores them itself. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#catchUpTimer);
    clearTimeout(this.#checkpointTimer);
  }
}
