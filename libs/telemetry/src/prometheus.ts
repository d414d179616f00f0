/**
 * {@link Metrics} for Prometheus: what `GET /metrics` serves.
 *
 * Our instruments keep their values in plain fields (an increment is one addition on a child
 * bound in advance, a histogram observation a short bucket search), and are written out in the
 * text exposition format only when scraped. prom-client's instruments look their labels up and
 * hash them on every observation, a microsecond a command at the rates a node serves; so
 * prom-client contributes its registry of Node's default metrics (CPU, memory, GC, handles,
 * event loop), which are gathered at scrape time anyway, and ours are written beside them.
 *
 * Every name gets the `merklekv_` prefix; Node's defaults keep their standard names
 * (`process_*`, `nodejs_*`) so that stock dashboards work.
 */
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { TelemetryError } from './errors.js';
import {
  type CounterChild,
  type GaugeChild,
  type HistogramChild,
  type HistogramDef,
  type Instrument,
  type Labels,
  type MetricDef,
  type Metrics,
} from './metrics.js';

export const METRIC_PREFIX = 'merklekv_';

const NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export interface PrometheusMetricsOptions {
  /** Node's default metrics and our event-loop lag gauges (default true; tests turn them off). */
  readonly defaults?: boolean;
}

class CounterValue implements CounterChild {
  value = 0;
  inc(by = 1): void {
    if (!(by >= 0)) throw new TelemetryError('BAD_VALUE', `a counter only goes up, got ${by}`);
    this.value += by;
  }
}

class GaugeValue implements GaugeChild {
  value = 0;
  set(value: number): void {
    this.value = value;
  }
  inc(by = 1): void {
    this.value += by;
  }
  dec(by = 1): void {
    this.value -= by;
  }
}

class HistogramValue implements HistogramChild {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    let i = 0;
    while (i < this.bounds.length && value > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }
}

type Child = CounterValue | GaugeValue | HistogramValue;

type Collect = (report: (value: number, labels: Labels<string>) => void) => void;

/** One metric: its children by label values, written out at scrape time. */
class Family {
  readonly #children = new Map<string, { readonly labels: Readonly<Record<string, string>>; readonly child: Child }>();

  constructor(
    readonly name: string,
    private readonly help: string,
    private readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly labelNames: readonly string[],
    private readonly make: () => Child,
    private readonly collect: Collect | undefined,
    /** A histogram's bucket bounds. */
    private readonly bounds: readonly number[] = [],
  ) {}

  labels(values: Readonly<Record<string, string>>): Child {
    let key = '';
    for (const name of this.labelNames) {
      const value = values[name];
      if (typeof value !== 'string') throw new TelemetryError('BAD_LABELS', `${this.name}: label ${name} missing`);
      key += `${value}\u0000`;
    }
    let entry = this.#children.get(key);
    if (!entry) {
      const labels: Record<string, string> = {};
      for (const name of this.labelNames) labels[name] = values[name]!;
      entry = { labels, child: this.make() };
      this.#children.set(key, entry);
    }
    return entry.child;
  }

  write(lines: string[]): void {
    if (this.collect) {
      this.#children.clear();
      this.collect((value, labels) => {
        const child = this.labels(labels);
        if (!(child instanceof HistogramValue)) child.value = value;
      });
    }
    lines.push(`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`);
    for (const { labels, child } of this.#children.values()) {
      if (!(child instanceof HistogramValue)) {
        lines.push(`${this.name}${formatLabels(labels)} ${formatValue(child.value)}`);
        continue;
      }
      let cumulative = 0;
      child.counts.forEach((count, i) => {
        cumulative += count;
        const le = i < this.bounds.length ? formatValue(this.bounds[i]!) : '+Inf';
        lines.push(`${this.name}_bucket${formatLabels(labels, le)} ${cumulative}`);
      });
      lines.push(`${this.name}_sum${formatLabels(labels)} ${formatValue(child.sum)}`, `${this.name}_count${formatLabels(labels)} ${child.count}`);
    }
  }
}

export class PrometheusMetrics implements Metrics {
  /** Node's default metrics; ours are written beside them. */
  readonly registry = new Registry();
  readonly #families = new Map<string, Family>();
  readonly #lag: IntervalHistogram | undefined;

  constructor(options: PrometheusMetricsOptions = {}) {
    if (options.defaults ?? true) {
      collectDefaultMetrics({ register: this.registry });
      this.#lag = monitorEventLoopDelay({ resolution: 20 });
      this.#lag.enable();
      const lag = this.#lag;
      // Over the interval since the previous scrape, so that a stall shows once, when it happened.
      // Both figures are read in the first gauge's collect, which a scrape runs first.
      let last: { p99: number; max: number } = { p99: 0, max: 0 };
      this.gauge({
        name: 'event_loop_lag_p99_seconds',
        help: 'Event-loop delay, 99th percentile since the previous scrape.',
        collect: (report) => {
          last = { p99: lag.count > 0 ? lag.percentile(99) / 1e9 : 0, max: lag.count > 0 ? lag.max / 1e9 : 0 };
          lag.reset();
          report(last.p99, {});
        },
      });
      this.gauge({
        name: 'event_loop_lag_max_seconds',
        help: 'Event-loop delay, largest since the previous scrape.',
        collect: (report) => report(last.max, {}),
      });
    }
  }

  /** The `Content-Type` of {@link exposition}. */
  get contentType(): string {
    return this.registry.contentType;
  }

  counter<L extends string = never>(def: MetricDef<L>): Instrument<CounterChild, L> {
    return this.#register(def, 'counter', () => new CounterValue()) as Instrument<CounterChild, L>;
  }

  gauge<L extends string = never>(def: MetricDef<L>): Instrument<GaugeChild, L> {
    return this.#register(def, 'gauge', () => new GaugeValue()) as Instrument<GaugeChild, L>;
  }

  histogram<L extends string = never>(def: HistogramDef<L>): Instrument<HistogramChild, L> {
    const bounds = [...def.buckets];
    if (bounds.length === 0 || bounds.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= bounds[i - 1]!))) {
      throw new TelemetryError('BAD_METRIC', `${def.name}: buckets must be finite and strictly ascending`);
    }
    if ((def.labels ?? []).includes('le' as L)) throw new TelemetryError('BAD_METRIC', `${def.name}: le is reserved`);
    return this.#register(def, 'histogram', () => new HistogramValue(bounds), bounds) as Instrument<HistogramChild, L>;
  }

  /** Every metric in the Prometheus text format: ours, then Node's defaults. */
  async exposition(): Promise<string> {
    const lines: string[] = [];
    for (const family of this.#families.values()) family.write(lines);
    const defaults = await this.registry.metrics();
    return `${lines.join('\n')}\n${defaults}`;
  }

  /** Stops the event-loop monitor. */
  close(): void {
    this.#lag?.disable();
  }

  #register<L extends string>(def: MetricDef<L> | HistogramDef<L>, type: 'counter' | 'gauge' | 'histogram', make: () => Child, bounds?: readonly number[]): unknown {
    const name = `${METRIC_PREFIX}${def.name}`;
    if (!NAME.test(def.name)) throw new TelemetryError('BAD_METRIC', `metric name ${JSON.stringify(def.name)} is not snake_case`);
    if (this.#families.has(name)) throw new TelemetryError('BAD_METRIC', `metric ${name} is registered twice`);
    const labelNames = [...(def.labels ?? [])];
    for (const label of labelNames) if (!LABEL.test(label)) throw new TelemetryError('BAD_METRIC', `${name}: label ${JSON.stringify(label)}`);
    const collect = 'collect' in def ? (def.collect as Collect | undefined) : undefined;
    const family = new Family(name, def.help, type, labelNames, make, collect, bounds);
    this.#families.set(name, family);
    return labelNames.length === 0 ? family.labels({}) : family;
  }
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatLabels(labels: Readonly<Record<string, string>>, le?: string): string {
  const parts: string[] = [];
  for (const [name, value] of Object.entries(labels)) parts.push(`${name}="${value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  if (le !== undefined) parts.push(`le="${le}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}
