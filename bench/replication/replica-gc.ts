/**
 * The replicas' garbage-collection pauses over a measured window, from the node's own
 * `/metrics`: prom-client's default `nodejs_gc_duration_seconds` histogram (labels
 * `kind` = minor | major | incremental | weakcb), read at the start and at the end of the window.
 * The difference is what the window saw: pauses, their total, pause time per second of wall
 * time (and that as a share of it), the mean pause (sum / count, exact), and the p99 and the
 * largest pause to the resolution of the buckets.
 *
 * Limits of the source, reported rather than hidden:
 * - The buckets are prom-client's defaults, 1 ms, 10 ms, 100 ms, 1 s, 2 s, 5 s: a p99 of
 *   "<= 10 ms" is all they can say (`p99_pause_le_ms`, with `p99_pause_above_ms` the bucket's
 *   lower edge). `pauses_per_bucket_ms` gives the whole (non-cumulative) distribution they hold.
 *   The node exposes no finer GC metric (libs/telemetry adds only event-loop lag gauges).
 * - prom-client 15's GC observer records only the first entry of each batch the
 *   PerformanceObserver delivers (once per event-loop turn): several collections in one turn
 *   count as one. Counts and totals are lower bounds; the mean is the mean of the pauses seen.
 *
 * Beside them, the node's event-loop lag over the same window (`merklekv_event_loop_lag_p99 /
 * _max_seconds`, which the node resets at every scrape: our scrape at the window start starts
 * them): not GC alone, but every stall a write could wait behind. The node samples it with a
 * 20 ms timer and reports the interval between ticks, so an idle loop reads about 20 ms.
 *
 * A scrape costs the node a millisecond or two of its event loop, twice per window.
 */
import { histogramDelta, histogramValue, quantileBucket, samplesOf, scrapeMetrics, type HistogramSnapshot } from '../lib/prometheus.js';
import { nowMs } from './drive.js';

export const GC_METRIC = 'nodejs_gc_duration_seconds';
const LAG_P99 = 'merklekv_event_loop_lag_p99_seconds';
const LAG_MAX = 'merklekv_event_loop_lag_max_seconds';

/** One scrape: the exposition text and when it was taken (midpoint of the request, bench clock). */
export interface Scrape {
  readonly text: string;
  readonly atMs: number;
}

export interface GcFigures {
  /** Wall seconds between the two scrapes. */
  readonly window_s: number;
  readonly pauses: number;
  readonly pause_s: number;
  readonly pause_ms_per_s: number;
  /** pause_s over window_s, in percent. */
  readonly wall_share_pct: number;
  readonly mean_pause_ms: number | null;
  /** The p99 pause is at most this (bucket resolution; null when only the +Inf bucket holds it, or no pause). */
  readonly p99_pause_le_ms: number | null;
  /** ... and above this (the bucket's lower edge). */
  readonly p99_pause_above_ms: number | null;
  /** The largest pause is at most this (bucket resolution). */
  readonly max_pause_le_ms: number | null;
  /** Pauses per bucket, keyed by the bucket's upper bound in ms (`+Inf` last), not cumulative. */
  readonly pauses_per_bucket_ms: Record<string, number>;
  readonly by_kind: Record<string, { pauses: number; pause_ms: number }>;
  /** The node's event-loop lag over the window (see above; about 20 when idle). */
  readonly event_loop_lag_p99_ms: number | null;
  readonly event_loop_lag_max_ms: number | null;
}

const round = (value: number, digits: number): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

const boundMs = (seconds: number): number | null => (Number.isFinite(seconds) ? round(seconds * 1000, 3) : null);

function lagMs(text: string, name: string): number | null {
  const sample = samplesOf(text, name).find((s) => s.name === name);
  return sample === undefined ? null : round(sample.value * 1000, 3);
}

function kindsOf(text: string): string[] {
  const kinds = new Set<string>();
  for (const s of samplesOf(text, GC_METRIC)) if (s.name === `${GC_METRIC}_count` && s.labels['kind'] !== undefined) kinds.add(s.labels['kind']);
  return [...kinds].sort();
}

function required(text: string, match: Readonly<Record<string, string>> = {}): HistogramSnapshot {
  const h = histogramValue(text, GC_METRIC, match);
  if (h === undefined) throw new Error(`no ${GC_METRIC} in /metrics`);
  return h;
}

/** The figures of the window between two scrapes of one node. */
export function gcFigures(start: Scrape, end: Scrape): GcFigures {
  const window = histogramDelta(required(start.text), required(end.text));
  const windowS = (end.atMs - start.atMs) / 1000;
  const p99 = quantileBucket(window, 0.99);
  const max = quantileBucket(window, 1);
  const perBucket: Record<string, number> = {};
  window.bounds.forEach((bound, i) => {
    perBucket[Number.isFinite(bound) ? String(round(bound * 1000, 3)) : '+Inf'] = (window.cumulative[i] ?? 0) - (i === 0 ? 0 : (window.cumulative[i - 1] ?? 0));
  });
  const byKind: Record<string, { pauses: number; pause_ms: number }> = {};
  for (const kind of kindsOf(end.text)) {
    const before = histogramValue(start.text, GC_METRIC, { kind });
    const after = required(end.text, { kind });
    // A kind that had not happened yet at the start has no series there: all of it is in the window.
    const k = before === undefined ? after : histogramDelta(before, after);
    byKind[kind] = { pauses: k.count, pause_ms: round(k.sum * 1000, 3) };
  }
  return {
    window_s: round(windowS, 3),
    pauses: window.count,
    pause_s: round(window.sum, 6),
    pause_ms_per_s: windowS > 0 ? round((window.sum * 1000) / windowS, 3) : 0,
    wall_share_pct: windowS > 0 ? round((window.sum / windowS) * 100, 3) : 0,
    mean_pause_ms: window.count > 0 ? round((window.sum / window.count) * 1000, 3) : null,
    p99_pause_le_ms: p99 === undefined ? null : boundMs(p99.atMost),
    p99_pause_above_ms: p99 === undefined ? null : boundMs(p99.above),
    max_pause_le_ms: max === undefined ? null : boundMs(max.atMost),
    pauses_per_bucket_ms: perBucket,
    by_kind: byKind,
    event_loop_lag_p99_ms: lagMs(end.text, LAG_P99),
    event_loop_lag_max_ms: lagMs(end.text, LAG_MAX),
  };
}

/** One line of the stderr summary. */
export function gcSummary(name: string, f: GcFigures): string {
  const kinds = Object.entries(f.by_kind)
    .map(([k, v]) => `${k} ${v.pauses}`)
    .join(', ');
  const bound = (v: number | null): string => (v === null ? 'over the last bucket' : `<= ${v} ms`);
  return (
    `${name} ${f.pauses} GC pauses (${kinds}), ${f.pause_s.toFixed(3)} s in ${f.window_s} s = ${f.pause_ms_per_s} ms/s ` +
    `(${f.wall_share_pct}% of wall), mean ${f.mean_pause_ms ?? '-'} ms, p99 ${f.pauses > 0 ? bound(f.p99_pause_le_ms) : '-'} ` +
    `and max ${f.pauses > 0 ? bound(f.max_pause_le_ms) : '-'} (bucket resolution), event-loop lag p99 ${f.event_loop_lag_p99_ms ?? '-'} ` +
    `max ${f.event_loop_lag_max_ms ?? '-'} ms`
  );
}

/**
 * Scrapes each replica's /metrics at the window's start and end ({@link mark}, called by the
 * driver) and turns the pairs into figures. A failed scrape makes that replica's figures null
 * (and says why): the latency figures stand without them.
 */
export class ReplicaGcProbe {
  readonly #ports: Readonly<Record<string, number>>;
  readonly #scrapes = new Map<string, Promise<Scrape>>();
  readonly #progress: (message: string) => void;

  constructor(ports: Readonly<Record<string, number>>, progress: (message: string) => void) {
    this.#ports = ports;
    this.#progress = progress;
  }

  /**
   * One scrape of every replica before the phase: checks that the metric is there, and loads
   * fetch's HTTP client, whose first use costs this process tens of milliseconds, outside the window.
   */
  async check(): Promise<void> {
    for (const [name, port] of Object.entries(this.#ports)) {
      const text = await scrapeMetrics(port);
      if (histogramValue(text, GC_METRIC) === undefined) this.#progress(`replica ${name}: no ${GC_METRIC} on port ${port}: GC figures will be null`);
    }
  }

  /** Starts the scrapes of one edge of the window; {@link figures} waits for them. */
  readonly mark = (edge: 'start' | 'end'): void => {
    for (const [name, port] of Object.entries(this.#ports)) {
      const sent = nowMs();
      const scrape = scrapeMetrics(port).then((text) => ({ text, atMs: (sent + nowMs()) / 2 }));
      scrape.catch(() => undefined); // reported by figures()
      this.#scrapes.set(`${name}:${edge}`, scrape);
    }
  };

  /** Per replica, the figures of the window (null when a scrape or the metric was missing). */
  async figures(): Promise<Record<string, GcFigures | null>> {
    const out: Record<string, GcFigures | null> = {};
    for (const name of Object.keys(this.#ports)) {
      try {
        const start = this.#scrapes.get(`${name}:start`);
        const end = this.#scrapes.get(`${name}:end`);
        if (start === undefined || end === undefined) throw new Error('the window was not marked');
        out[name] = gcFigures(await start, await end);
      } catch (err) {
        this.#progress(`replica ${name}: no GC figures: ${err instanceof Error ? err.message : String(err)}`);
        out[name] = null;
      }
    }
    return out;
  }
}
