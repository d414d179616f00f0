/**
 * Reads figures from a server's Prometheus text exposition (`/metrics`), e.g. the heap or the GC
 * pauses the node's prom-client default metrics report, without a Prometheus client on our side.
 */

/** The sum of every sample of metric `name` (any labels) in exposition text, or undefined when there is none. */
export function metricValue(text: string, name: string): number | undefined {
  let total: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    // Exactly this metric: `name 12` or `name{...} 12`, not `name_total 12`.
    const next = line.charAt(name.length);
    if (next !== ' ' && next !== '{') continue;
    // The value follows the series (a label value may hold `}`: the last one closes the set);
    // an optional timestamp may follow the value.
    const rest = next === '{' ? line.slice(line.lastIndexOf('}') + 1) : line.slice(name.length);
    const value = Number(rest.trim().split(/\s+/)[0]);
    if (Number.isNaN(value)) continue;
    total = (total ?? 0) + value;
  }
  return total;
}

/** One sample line: `name{label="value",...} value [timestamp]`. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const ESCAPES: Readonly<Record<string, string>> = { n: '\n', '\\': '\\', '"': '"' };

/** Parses one sample line; undefined for comments, blank lines and what does not parse. */
export function parseSample(line: string): Sample | undefined {
  const nameEnd = line.search(/[{\s]/);
  if (line.startsWith('#') || nameEnd <= 0) return undefined;
  const name = line.slice(0, nameEnd);
  const labels: Record<string, string> = {};
  let i = nameEnd;
  if (line[i] === '{') {
    i += 1;
    for (;;) {
      while (line[i] === ' ' || line[i] === ',') i += 1;
      if (line[i] === '}') {
        i += 1;
        break;
      }
      const eq = line.indexOf('=', i);
      if (eq < 0 || line[eq + 1] !== '"') return undefined;
      const key = line.slice(i, eq).trim();
      let value = '';
      // A label value is quoted, with \\, \" and \n escaped.
      for (i = eq + 2; i < line.length && line[i] !== '"'; i += 1) {
        if (line[i] === '\\') {
          i += 1;
          value += ESCAPES[line[i] ?? ''] ?? `\\${line[i] ?? ''}`;
        } else {
          value += line[i];
        }
      }
      if (i >= line.length) return undefined;
      i += 1;
      labels[key] = value;
    }
  }
  // Then the value, and an optional timestamp.
  const text = line.slice(i).trim().split(/\s+/)[0] ?? '';
  const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
  if (text === '' || Number.isNaN(value)) return undefined;
  return { name, labels, value };
}

/** Every sample of metric family `name` (`name`, `name_bucket`, `name_sum`, `name_count`, ...) in exposition text. */
export function samplesOf(text: string, name: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const sample = parseSample(line);
    if (sample !== undefined) out.push(sample);
  }
  return out;
}

/** A histogram, summed over the label sets read: cumulative counts per upper bound. */
export interface HistogramSnapshot {
  /** Upper bounds (`le`), ascending; the last is Infinity. */
  readonly bounds: readonly number[];
  /** Observations at or below each bound (cumulative, as exposed). */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

const matches = (labels: Readonly<Record<string, string>>, match: Readonly<Record<string, string>>): boolean =>
  Object.entries(match).every(([k, v]) => labels[k] === v);

/**
 * Histogram `name` in exposition text, summed over every label set that has the labels of
 * `match` (all of them by default), e.g. `nodejs_gc_duration_seconds` over every `kind`.
 * Undefined when it has no bucket there; throws when the label sets disagree on the buckets.
 */
export function histogramValue(text: string, name: string, match: Readonly<Record<string, string>> = {}): HistogramSnapshot | undefined {
  const byBound = new Map<number, number>();
  const seriesBounds = new Map<string, number[]>();
  let sum = 0;
  let count = 0;
  for (const sample of samplesOf(text, name)) {
    if (!matches(sample.labels, match)) continue;
    if (sample.name === `${name}_sum`) sum += sample.value;
    else if (sample.name === `${name}_count`) count += sample.value;
    else if (sample.name === `${name}_bucket`) {
      const { le, ...rest } = sample.labels;
      const bound = le === '+Inf' ? Infinity : Number(le);
      if (le === undefined || Number.isNaN(bound)) continue;
      byBound.set(bound, (byBound.get(bound) ?? 0) + sample.value);
      const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
      seriesBounds.set(key, [...(seriesBounds.get(key) ?? []), bound]);
    }
  }
  if (byBound.size === 0) return undefined;
  const bounds = [...byBound.keys()].sort((a, b) => a - b);
  for (const [series, own] of seriesBounds) {
    if (own.length !== bounds.length) throw new Error(`${name}: series ${series} has other buckets than its siblings`);
  }
  if (bounds.at(-1) !== Infinity) throw new Error(`${name}: no +Inf bucket`);
  return { bounds, cumulative: bounds.map((b) => byBound.get(b) ?? 0), sum, count };
}

/** What was observed between two snapshots of one histogram (`after` minus `before`). */
export function histogramDelta(before: HistogramSnapshot, after: HistogramSnapshot): HistogramSnapshot {
  if (before.bounds.length !== after.bounds.length || before.bounds.some((b, i) => b !== after.bounds[i])) {
    throw new Error('histogram buckets changed between the snapshots');
  }
  const cumulative = after.cumulative.map((c, i) => c - (before.cumulative[i] ?? 0));
  const count = after.count - before.count;
  if (count < 0 || cumulative.some((c) => c < 0)) throw new Error('histogram went down between the snapshots (a restart?)');
  return { bounds: after.bounds, cumulative, sum: after.sum - before.sum, count };
}

/**
 * The bucket that holds quantile `q` (0 < q <= 1) of a histogram: `q` of the observations are
 * at most `atMost` (Infinity when only the +Inf bucket has them) and above `above` (0 for the
 * first bucket). That is all the buckets can tell. Undefined without observations.
 */
export function quantileBucket(h: HistogramSnapshot, q: number): { above: number; atMost: number } | undefined {
  const total = h.cumulative.at(-1) ?? 0;
  if (total <= 0) return undefined;
  const rank = Math.ceil(q * total);
  const i = h.cumulative.findIndex((c) => c >= rank);
  const at = i < 0 ? h.bounds.length - 1 : i;
  return { above: at === 0 ? 0 : (h.bounds[at - 1] as number), atMost: h.bounds[at] as number };
}

/** GETs `http://host:port/metrics` and returns the exposition text. */
export async function scrapeMetrics(port: number, options: { host?: string; timeoutMs?: number } = {}): Promise<string> {
  const response = await fetch(`http://${options.host ?? '127.0.0.1'}:${port}/metrics`, {
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  if (response.status !== 200) throw new Error(`GET /metrics on port ${port} answered ${response.status}`);
  return response.text();
}

/** GETs `http://host:port/metrics` and returns metric `name` (see {@link metricValue}). */
export async function scrapeMetric(port: number, name: string, options: { host?: string; timeoutMs?: number } = {}): Promise<number | undefined> {
  return metricValue(await scrapeMetrics(port, options), name);
}
