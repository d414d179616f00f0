/**
 * The metrics interface libraries are handed: counters, gauges and histograms with labels,
 * independent of the exposition format. The process gives them {@link PrometheusMetrics}; tests
 * and standalone uses get {@link NO_METRICS}.
 *
 * Hot paths bind a child once (`labels({...})`) and then only call `inc`/`observe` on it: the
 * label lookup happens at bind time, never per event.
 */

/** Label values, one per declared label name. */
export type Labels<L extends string> = { readonly [K in L]: string };

export interface CounterChild {
  inc(by?: number): void;
}

export interface GaugeChild {
  set(value: number): void;
  inc(by?: number): void;
  dec(by?: number): void;
}

export interface HistogramChild {
  observe(value: number): void;
}

/** An instrument declared with labels hands out children bound to label values; one without labels is its own child. */
export type Instrument<Child, L extends string> = [L] extends [never] ? Child : { labels(values: Labels<L>): Child };

export interface MetricDef<L extends string> {
  /** snake_case, without the exposition's prefix; counters end in `_total`, durations in `_seconds`. */
  readonly name: string;
  readonly help: string;
  readonly labels?: readonly L[];
  /**
   * Reads the values at scrape time instead: before each scrape the instrument is emptied and
   * holds exactly what `collect` reports (a counter reports its running total). For figures
   * the process keeps anyway (outbox depth, keys per shard, peers by state).
   */
  readonly collect?: (report: (value: number, labels: Labels<L>) => void) => void;
}

export interface HistogramDef<L extends string> extends Omit<MetricDef<L>, 'collect'> {
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
}

export interface Metrics {
  counter<L extends string = never>(def: MetricDef<L>): Instrument<CounterChild, L>;
  gauge<L extends string = never>(def: MetricDef<L>): Instrument<GaugeChild, L>;
  histogram<L extends string = never>(def: HistogramDef<L>): Instrument<HistogramChild, L>;
}

/** Durations from 50 µs (a read answered from memory) to 5 s (a request timing out), in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const noopChild: CounterChild & GaugeChild & HistogramChild = {
  inc: () => undefined,
  dec: () => undefined,
  set: () => undefined,
  observe: () => undefined,
};

const noopInstrument = Object.assign({ labels: () => noopChild }, noopChild);

/** Records nothing: for libraries used without a metrics backend, and for tests. */
export const NO_METRICS: Metrics = {
  counter: <L extends string>() => noopInstrument as unknown as Instrument<CounterChild, L>,
  gauge: <L extends string>() => noopInstrument as unknown as Instrument<GaugeChild, L>,
  histogram: <L extends string>() => noopInstrument as unknown as Instrument<HistogramChild, L>,
};
