/**
 * A latency histogram in the HdrHistogram style: log-linear buckets, so recording is one
 * index computation and an increment, memory is fixed (a few thousand counters), and any
 * percentile is within 1/SUB_BUCKETS (under 1%) of the true value. Values are whole
 * microseconds from 0 to 2^31 - 1 (about 36 minutes); larger values are clamped.
 *
 * Layout: values below SUB_BUCKETS get a bucket each; above that, every power of two
 * [2^k, 2^(k+1)) is cut into SUB_BUCKETS equal buckets.
 */
const SUB_BITS = 7;
const SUB_BUCKETS = 1 << SUB_BITS;
const MAX_VALUE = 0x7fffffff;
const MAX_MSB = 30;
export const HISTOGRAM_BUCKETS = SUB_BUCKETS + (MAX_MSB - SUB_BITS + 1) * SUB_BUCKETS;

function indexOf(value: number): number {
  if (value < SUB_BUCKETS) return value;
  const msb = 31 - Math.clz32(value);
  const shift = msb - SUB_BITS;
  return SUB_BUCKETS + shift * SUB_BUCKETS + ((value >>> shift) - SUB_BUCKETS);
}

/** The smallest value that falls into bucket `index`, and the bucket's width. */
function bucketBounds(index: number): { low: number; width: number } {
  if (index < SUB_BUCKETS) return { low: index, width: 1 };
  const shift = Math.floor((index - SUB_BUCKETS) / SUB_BUCKETS);
  const sub = (index - SUB_BUCKETS) % SUB_BUCKETS;
  return { low: (SUB_BUCKETS + sub) * 2 ** shift, width: 2 ** shift };
}

/** A histogram's state as plain data, to cross a worker boundary (structured clone). */
export interface HistogramSnapshot {
  readonly counts: Float64Array;
  readonly total: number;
  readonly sum: number;
  readonly max: number;
}

export class LatencyHistogram {
  readonly counts = new Float64Array(HISTOGRAM_BUCKETS);
  #total = 0;
  #sum = 0;
  #max = 0;

  static fromSnapshot(snapshot: HistogramSnapshot): LatencyHistogram {
    if (snapshot.counts.length !== HISTOGRAM_BUCKETS) throw new RangeError(`expected ${HISTOGRAM_BUCKETS} buckets, got ${snapshot.counts.length}`);
    const h = new LatencyHistogram();
    h.counts.set(snapshot.counts);
    h.#total = snapshot.total;
    h.#sum = snapshot.sum;
    h.#max = snapshot.max;
    return h;
  }

  snapshot(): HistogramSnapshot {
    return { counts: this.counts.slice(), total: this.#total, sum: this.#sum, max: this.#max };
  }

  /** Records one value in microseconds (fractions are rounded, negatives count as 0). */
  record(micros: number): void {
    const v = micros <= 0 ? 0 : micros >= MAX_VALUE ? MAX_VALUE : Math.round(micros);
    const i = indexOf(v);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.#total += 1;
    this.#sum += v;
    if (v > this.#max) this.#max = v;
  }

  get count(): number {
    return this.#total;
  }

  /** Largest recorded value in microseconds. */
  get max(): number {
    return this.#max;
  }

  get mean(): number {
    return this.#total === 0 ? 0 : this.#sum / this.#total;
  }

  /**
   * The value below which `q` (0..1) of the recordings fall, in microseconds: the midpoint of
   * the bucket holding the rank-⌈q·n⌉ recording; 0 when empty.
   */
  percentile(q: number): number {
    if (this.#total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.#total));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i += 1) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) {
        const { low, width } = bucketBounds(i);
        return Math.min(low + (width - 1) / 2, this.#max);
      }
    }
    return this.#max;
  }

  /** Adds another histogram's recordings to this one. */
  add(other: LatencyHistogram): void {
    for (let i = 0; i < this.counts.length; i += 1) this.counts[i] = (this.counts[i] ?? 0) + (other.counts[i] ?? 0);
    this.#total += other.#total;
    this.#sum += other.#sum;
    if (other.#max > this.#max) this.#max = other.#max;
  }

  reset(): void {
    this.counts.fill(0);
    this.#total = 0;
    this.#sum = 0;
    this.#max = 0;
  }
}
