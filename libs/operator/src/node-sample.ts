/**
 * What the dashboard plots of one node, second by second: the figures are differences between
 * two readings of the node's own Prometheus exposition (the counters and histograms every
 * process keeps anyway), so the dashboard adds no instrument to the request path.
 */

/** One reading of the counters the samples are differences of. */
export interface MetricsReading {
  readonly at: number;
  readonly commands: number;
  /** Cumulative command-duration bucket counts by upper bound (seconds), all commands together. */
  readonly buckets: ReadonlyMap<number, number>;
  readonly lagSeconds: Readonly<Record<string, number>>;
  readonly outboxDepth: number | undefined;
}

export interface NodeSample {
  /** ms since the epoch, the node's clock. */
  readonly at: number;
  readonly opsPerSec: number;
  /** Upper bounds of the histogram buckets holding the median and the 99th percentile (ms); null without commands. */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  readonly lagSeconds: Readonly<Record<string, number>>;
  readonly outboxDepth: number | undefined;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Reads the figures a sample needs from a Prometheus text exposition. */
export function readMetrics(exposition: string, at: number): MetricsReading {
  let commands = 0;
  let outboxDepth: number | undefined;
  const buckets = new Map<number, number>();
  const lagSeconds: Record<string, number> = {};
  for (const line of exposition.split('\n')) {
    if (!line.startsWith('merklekv_')) continue;
    const match = SAMPLE.exec(line);
    if (!match) continue;
    const [, name, labelText = '', text] = match;
    const value = Number(text);
    if (name === 'merklekv_commands_total') commands += value;
    else if (name === 'merklekv_outbox_depth') outboxDepth = value;
    else if (name === 'merklekv_replication_lag_seconds' || name === 'merklekv_command_duration_seconds_bucket') {
      const labels = Object.fromEntries([...labelText.matchAll(LABEL)].map(([, key, v]) => [key!, v!]));
      if (name === 'merklekv_replication_lag_seconds' && labels.peer !== undefined) lagSeconds[labels.peer] = value;
      else if (labels.le !== undefined) {
        const bound = labels.le === '+Inf' ? Infinity : Number(labels.le);
        buckets.set(bound, (buckets.get(bound) ?? 0) + value);
      }
    }
  }
  return { at, commands, buckets, lagSeconds, outboxDepth };
}

/** The sample for the interval between two readings. */
export function sampleBetween(before: MetricsReading, after: MetricsReading): NodeSample {
  const seconds = Math.max((after.at - before.at) / 1000, 1e-3);
  const counts = [...after.buckets]
    .sort(([a], [b]) => a - b)
    .map(([bound, count]) => [bound, count - (before.buckets.get(bound) ?? 0)] as const);
  const total = counts.at(-1)?.[1] ?? 0;
  const quantile = (q: number): number | null => {
    if (total <= 0) return null;
    const bucket = counts.find(([, count]) => count >= q * total);
    return bucket && Number.isFinite(bucket[0]) ? bucket[0] * 1000 : null;
  };
  return {
    at: after.at,
    opsPerSec: Math.max(0, after.commands - before.commands) / seconds,
    p50Ms: quantile(0.5),
    p99Ms: quantile(0.99),
    lagSeconds: after.lagSeconds,
    outboxDepth: after.outboxDepth,
  };
}
