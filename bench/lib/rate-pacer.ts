/**
 * Open-loop pacing: operation i (from 0) is due at `start + i / rate`, whatever happened to the
 * operations before it. A caller asks how many operations are due by now and issues the
 * difference; when its event loop stalls, the backlog leaves at once on the next tick instead of
 * being silently dropped (dropping it would hide the stall: coordinated omission).
 *
 * Pure arithmetic on a millisecond clock the caller supplies, so it is testable without timers.
 */
export class RatePacer {
  readonly #intervalMs: number;

  /**
   * @param ratePerSec operations per second, > 0
   * @param startMs    the clock reading at which operation 0 is due
   * @param total      operations in all (default unbounded)
   */
  constructor(
    readonly ratePerSec: number,
    readonly startMs: number,
    readonly total = Infinity,
  ) {
    if (!(ratePerSec > 0) || !Number.isFinite(ratePerSec)) throw new RangeError(`rate must be a positive finite number, got ${ratePerSec}`);
    if (!(total >= 0)) throw new RangeError(`total must be non-negative, got ${total}`);
    this.#intervalMs = 1000 / ratePerSec;
  }

  /** How many operations are due at `nowMs` (operations 0 .. n-1), capped at `total`. */
  dueBy(nowMs: number): number {
    if (nowMs < this.startMs) return 0;
    // Multiply, never accumulate: no drift over millions of operations.
    const due = Math.floor(((nowMs - this.startMs) * this.ratePerSec) / 1000) + 1;
    return Math.min(due, this.total);
  }

  /** When operation `index` is due. */
  dueAt(index: number): number {
    return this.startMs + index * this.#intervalMs;
  }

  /** Whether every operation has been issued once `issued` have. */
  done(issued: number): boolean {
    return issued >= this.total;
  }

  /** Milliseconds from `nowMs` until the next operation after `issued` is due (0 if it is). */
  waitMs(issued: number, nowMs: number): number {
    return Math.max(0, this.dueAt(issued) - nowMs);
  }
}

/** The total operations for `seconds` at `ratePerSec` (rounded to the nearest whole one). */
export const operationsFor = (ratePerSec: number, seconds: number): number => Math.round(ratePerSec * seconds);
