/**
 * Bookkeeping of a replication benchmark: for every write (a dense sequence number from 0) the
 * time it was issued, the time its writer got the acknowledgement, and the time each observer
 * (a watcher on another node, a JetStream consumer) first saw it. Times are milliseconds on one
 * monotonic clock of this process (`process.hrtime.bigint()`).
 *
 * Latencies are computed after the fact, once everything has arrived, so events may come in any
 * order: a watcher may see a write before its writer reads the acknowledgement (the replica's
 * TCP segment can simply be read first); that latency is negative and is reported as such, and
 * counted, never clamped.
 *
 * Percentiles are exact (nearest rank, the ⌈q·n⌉-th smallest value, the definition the
 * load generator's histogram uses), computed from every sample: a run holds at most a few
 * hundred thousand, and the log-linear histogram of bench/lib cannot hold negative values.
 */

/** A growable array of times, NaN where nothing was recorded. */
class Times {
  #data: Float64Array;

  constructor(capacity = 1024) {
    this.#data = new Float64Array(capacity).fill(Number.NaN);
  }

  get(i: number): number {
    return i < this.#data.length ? (this.#data[i] as number) : Number.NaN;
  }

  set(i: number, t: number): void {
    if (i >= this.#data.length) {
      let size = this.#data.length * 2;
      while (size <= i) size *= 2;
      const grown = new Float64Array(size).fill(Number.NaN);
      grown.set(this.#data);
      this.#data = grown;
    }
    this.#data[i] = t;
  }
}

export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
}

const EMPTY: LatencySummary = { count: 0, p50: Number.NaN, p90: Number.NaN, p99: Number.NaN, p999: Number.NaN, min: Number.NaN, max: Number.NaN, mean: Number.NaN };

/** The ⌈q·n⌉-th smallest value of an ascending array (q in (0, 1]). */
export function nearestRank(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1] as number;
}

/** Exact summary of a set of latencies (sorts `values` in place). */
export function summarize(values: Float64Array): LatencySummary {
  if (values.length === 0) return EMPTY;
  values.sort();
  let sum = 0;
  for (const v of values) sum += v;
  return {
    count: values.length,
    p50: nearestRank(values, 0.5),
    p90: nearestRank(values, 0.9),
    p99: nearestRank(values, 0.99),
    p999: nearestRank(values, 0.999),
    min: values[0] as number,
    max: values[values.length - 1] as number,
    mean: sum / values.length,
  };
}

/** Which writes an analysis covers. */
export interface AnalysisRange {
  /** Sequence numbers [from, to) of the phase: `lost` and `unacked` count over all of them. */
  readonly from: number;
  readonly to: number;
  /** Latencies and throughput only for writes acknowledged in [startMs, endMs) (the measured window). */
  readonly window?: { readonly startMs: number; readonly endMs: number };
}

export interface Analysis {
  /** Writes issued in the range. */
  readonly issued: number;
  /** Writes acknowledged in the range. */
  readonly acked: number;
  /** Writes issued but never acknowledged (failed or never answered). */
  readonly unacked: number;
  /** Acknowledged writes that some observer never saw. */
  readonly lost: number;
  /** Per observer: acknowledged writes it never saw. */
  readonly lostByObserver: readonly number[];
  /** Sightings of writes that were never issued (by sequence number, in the range). */
  readonly unexpected: number;
  /** Writes acknowledged in the window. */
  readonly ackedInWindow: number;
  /** ackedInWindow per second of window (NaN without a window). */
  readonly ackedPerSec: number;
  /** Acknowledged-to-seen, one sample per (write in the window, observer that saw it). */
  readonly visible: LatencySummary;
  /** How many of those samples were below zero (seen before the writer read the ack). */
  readonly negative: number;
  /** Issued-to-seen, same samples. */
  readonly visibleFromIssue: LatencySummary;
  /** Issued-to-acknowledged, one per write in the window. */
  readonly ack: LatencySummary;
}

export class SampleBook {
  readonly #issued = new Times();
  readonly #acked = new Times();
  readonly #seen: Times[];
  #size = 0;
  #duplicates = 0;
  #lastSeenMs = Number.NaN;

  constructor(readonly observers: number) {
    if (!Number.isInteger(observers) || observers < 1) throw new RangeError(`observers must be a positive integer, got ${observers}`);
    this.#seen = Array.from({ length: observers }, () => new Times());
  }

  /** One more than the highest sequence number issued. */
  get size(): number {
    return this.#size;
  }

  /** Sightings of a write an observer had already seen (the first one counts). */
  get duplicates(): number {
    return this.#duplicates;
  }

  /** When an observer last saw a write for the first time (NaN before any). */
  get lastSeenMs(): number {
    return this.#lastSeenMs;
  }

  issued(seq: number, t: number): void {
    this.#check(seq);
    this.#issued.set(seq, t);
    if (seq >= this.#size) this.#size = seq + 1;
  }

  /** Records the acknowledgement; a second one for the same write is ignored. */
  acked(seq: number, t: number): void {
    this.#check(seq);
    if (Number.isNaN(this.#acked.get(seq))) this.#acked.set(seq, t);
  }

  /** Records a sighting; returns false when this observer had already seen the write. */
  seen(observer: number, seq: number, t: number): boolean {
    this.#check(seq);
    const times = this.#seen[observer];
    if (times === undefined) throw new RangeError(`no observer ${observer}`);
    if (!Number.isNaN(times.get(seq))) {
      this.#duplicates += 1;
      return false;
    }
    times.set(seq, t);
    this.#lastSeenMs = t;
    return true;
  }

  ackedAt(seq: number): number {
    return this.#acked.get(seq);
  }

  seenAt(observer: number, seq: number): number {
    return this.#seen[observer]?.get(seq) ?? Number.NaN;
  }

  /** (write, observer) pairs in [from, to) acknowledged but not seen yet. */
  outstanding(from: number, to: number): number {
    let n = 0;
    for (let seq = from; seq < to; seq += 1) {
      if (Number.isNaN(this.#acked.get(seq))) continue;
      for (const times of this.#seen) if (Number.isNaN(times.get(seq))) n += 1;
    }
    return n;
  }

  analyze(range: AnalysisRange): Analysis {
    const { from, to, window } = range;
    let issued = 0;
    let acked = 0;
    let lost = 0;
    let unexpected = 0;
    let inWindow = 0;
    let negative = 0;
    const lostByObserver = new Array<number>(this.observers).fill(0);
    const visible: number[] = [];
    const fromIssue: number[] = [];
    const ack: number[] = [];
    for (let seq = from; seq < to; seq += 1) {
      const issuedAt = this.#issued.get(seq);
      const ackedAt = this.#acked.get(seq);
      if (Number.isNaN(issuedAt)) {
        for (const times of this.#seen) if (!Number.isNaN(times.get(seq))) unexpected += 1;
        continue;
      }
      issued += 1;
      if (Number.isNaN(ackedAt)) continue;
      acked += 1;
      let missed = false;
      for (let o = 0; o < this.observers; o += 1) {
        if (Number.isNaN(this.seenAt(o, seq))) {
          missed = true;
          lostByObserver[o] = (lostByObserver[o] ?? 0) + 1;
        }
      }
      if (missed) lost += 1;
      if (window !== undefined && (ackedAt < window.startMs || ackedAt >= window.endMs)) continue;
      inWindow += 1;
      ack.push(ackedAt - issuedAt);
      for (let o = 0; o < this.observers; o += 1) {
        const seenAt = this.seenAt(o, seq);
        if (Number.isNaN(seenAt)) continue;
        const latency = seenAt - ackedAt;
        if (latency < 0) negative += 1;
        visible.push(latency);
        fromIssue.push(seenAt - issuedAt);
      }
    }
    const seconds = window === undefined ? Number.NaN : (window.endMs - window.startMs) / 1000;
    return {
      issued,
      acked,
      unacked: issued - acked,
      lost,
      lostByObserver,
      unexpected,
      ackedInWindow: inWindow,
      ackedPerSec: inWindow / seconds,
      visible: summarize(Float64Array.from(visible)),
      negative,
      visibleFromIssue: summarize(Float64Array.from(fromIssue)),
      ack: summarize(Float64Array.from(ack)),
    };
  }

  /**
   * Acknowledged-to-seen latency per interval of acknowledgement time over the window: shows
   * whether a bad p99 is a steady state or a few stalls.
   */
  timeline(range: AnalysisRange & { readonly window: { readonly startMs: number; readonly endMs: number } }, intervalMs: number): LatencySummary[] {
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    const { startMs, endMs } = range.window;
    // A hair below the exact ratio, so that float noise in the window's bounds adds no bucket.
    const count = Math.max(0, Math.ceil((endMs - startMs) / intervalMs - 1e-9));
    const buckets: number[][] = Array.from({ length: count }, () => []);
    for (let seq = range.from; seq < range.to; seq += 1) {
      const ackedAt = this.#acked.get(seq);
      if (Number.isNaN(ackedAt) || ackedAt < startMs || ackedAt >= endMs) continue;
      const bucket = buckets[Math.floor((ackedAt - startMs) / intervalMs)];
      for (const times of this.#seen) {
        const seenAt = times.get(seq);
        if (!Number.isNaN(seenAt)) bucket?.push(seenAt - ackedAt);
      }
    }
    return buckets.map((b) => summarize(Float64Array.from(b)));
  }

  #check(seq: number): void {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new RangeError(`sequence numbers are non-negative integers, got ${seq}`);
  }
}
