import { type HybridLogicalClock } from '#crdt';
import { type CommitLoop } from './commit-loop.js';
import { describeCause, StoreError } from './errors.js';
import { type Shard } from './shard.js';
import { type StorageHealth } from './storage-health.js';

export interface ExpirySweeperOptions {
  readonly shards: readonly Shard[];
  readonly loop: CommitLoop;
  readonly health: StorageHealth;
  /** The store's clock: its wall time is the one the stamps and the readers' expiry checks use. */
  readonly clock: HybridLogicalClock;
  /** How often the sweeper looks for expired entries. */
  readonly intervalMs: number;
  /** Expired entries removed per turn at most, all shards together. */
  readonly limit: number;
}

/**
 * The expiry sweeper: every interval, the expiry index's earliest records up to now (at most
 * `limit` of them, all shards together, starting with the shard after the last one served)
 * become 'expire' tasks of the commit loop, which replaces each entry by its expired form if it
 * still expires then. A turn that used its whole budget is followed by the next one as soon as
 * its tasks are durable, so a backlog drains in bounded steps; otherwise the sweeper rests for
 * the interval. Reads never wait for it (they judge expiry themselves): it frees the space,
 * counts the key out of DBSIZE, tells watchers, and lets tombstone collection take the key.
 * Local only: every replica derives the same expired form at the same time, so nothing is
 * published (anti-entropy compares the results like any entries).
 */
export class ExpirySweeper {
  readonly #options: ExpirySweeperOptions;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The shard the next sweep starts with: a shard with a backlog does not starve the others. */
  #firstShard = 0;
  #expired = 0;

  constructor(options: ExpirySweeperOptions) {
    this.#options = options;
  }

  /** Entries replaced by their expired form since the store opened. */
  get expired(): number {
    return this.#expired;
  }

  schedule(delayMs: number): void {
    if (this.#closed || this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#sweep().then((full) => this.schedule(full ? 0 : this.#options.intervalMs));
    }, delayMs).unref();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /** One turn; true when it used its whole budget (more may be due). */
  async #sweep(): Promise<boolean> {
    const { shards, loop, health, clock, limit } = this.#options;
    if (this.#closed || health.failure) return false;
    const now = clock.wallNow();
    let budget = limit;
    const tasks: Promise<boolean>[] = [];
    try {
      for (let i = 0; i < shards.length && budget > 0; i++) {
        const shard = shards[(this.#firstShard + i) % shards.length]!;
        for (const { at, key } of shard.expiring(now, budget)) {
          budget--;
          tasks.push(new Promise<boolean>((resolve, reject) => loop.enqueue(shard.index, { kind: 'expire', key, at, settle: { resolve, reject } })));
        }
      }
    } catch (cause) {
      // A storage read failed: the next turn tries again.
      health.failed(new StoreError('STORAGE', `storage read failed: ${describeCause(cause)}`, { cause }));
      return false;
    }
    this.#firstShard = (this.#firstShard + 1) % shards.length;
    const outcomes = await Promise.allSettled(tasks);
    for (const outcome of outcomes) if (outcome.status === 'fulfilled' && outcome.value) this.#expired++;
    return budget === 0;
  }
}
