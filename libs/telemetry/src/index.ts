/**
 * #telemetry: metrics and tracing, framework-free. Libraries take the {@link Metrics} interface
 * and a {@link Tracing} by injection; a process starts one {@link Telemetry} (Prometheus
 * metrics, OpenTelemetry tracing from the `OTEL_*` environment) and hands them out.
 */
export { antiEntropyTelemetry, type AntiEntropyTelemetry } from './anti-entropy.js';
export { TelemetryError, type TelemetryErrorCode } from './errors.js';
export {
  type CounterChild,
  type GaugeChild,
  type HistogramChild,
  type HistogramDef,
  type Instrument,
  type Labels,
  LATENCY_BUCKETS,
  type MetricDef,
  type Metrics,
  NO_METRICS,
} from './metrics.js';
export { METRIC_PREFIX, PrometheusMetrics, type PrometheusMetricsOptions } from './prometheus.js';
export {
  ATTR,
  type Context,
  contextOfTraceparent,
  extractTraceContext,
  failSpan,
  type HeaderCarrier,
  injectTraceContext,
  inSpan,
  keyHash,
  SPAN,
  type Span,
  SpanKind,
  traceLogFields,
  traceparentOf,
  traceparentOfSpan,
} from './spans.js';
export { type ReadableSpan, SpanRecorder } from './recorder.js';
export { Telemetry, type StartTelemetryOptions } from './telemetry.js';
export { type Env, type ProcessKind, type StartTracingOptions, TRACER_NAME, Tracing, type TracingSettings, tracingSettings } from './tracing.js';
