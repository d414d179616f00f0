import { context, SpanStatusCode } from '@opentelemetry/api';
import { antiEntropyTelemetry } from './anti-entropy.js';
import { PrometheusMetrics } from './prometheus.js';
import { SpanRecorder } from './recorder.js';
import {
  contextOfTraceparent,
  extractTraceContext,
  type HeaderCarrier,
  injectTraceContext,
  inSpan,
  keyHash,
  traceLogFields,
  traceparentOf,
} from './spans.js';
import { Tracing, tracingSettings } from './tracing.js';

/** A NATS-like header bag: '' for an absent header. */
function headerBag(): HeaderCarrier & { readonly map: Map<string, string> } {
  const map = new Map<string, string>();
  return { map, get: (k) => map.get(k) ?? '', set: (k, v) => void map.set(k, v), keys: () => [...map.keys()] };
}

describe('tracingSettings', () => {
  it('is off without an OTLP endpoint, and names the service after the process kind', () => {
    expect(tracingSettings({}, 'gateway')).toMatchObject({ enabled: false, serviceName: 'merklekv-gateway', warnings: [] });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 'store-shard')).toMatchObject({ enabled: true, serviceName: 'merklekv-store-shard' });
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces', OTEL_SERVICE_NAME: 'kv' }, 'node')).toMatchObject({
      enabled: true,
      serviceName: 'kv',
    });
  });

  it('honours OTEL_SDK_DISABLED and OTEL_TRACES_EXPORTER=none', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' }, 'node').enabled).toBe(false);
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' }, 'node').enabled).toBe(false);
  });

  it('reads the sampler and batch settings, and warns about what it cannot honour', () => {
    const settings = tracingSettings(
      {
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_BSP_SCHEDULE_DELAY: '200',
        OTEL_BSP_MAX_QUEUE_SIZE: 'lots',
      },
      'node',
    );
    expect(settings).toMatchObject({ enabled: true, sampler: 'parentbased_traceidratio', ratio: 0.25, batch: { scheduledDelayMillis: 200 } });
    expect(settings.warnings).toEqual([expect.stringContaining('OTEL_EXPORTER_OTLP_PROTOCOL=grpc'), expect.stringContaining('OTEL_BSP_MAX_QUEUE_SIZE=lots')]);
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c' }, 'node').warnings).toEqual([]);
  });
});

describe('Tracing', () => {
  it('off, records nothing and registers nothing', () => {
    const tracing = Tracing.start({ kind: 'node', version: '1', env: {} });
    expect(tracing.enabled).toBe(false);
    inSpan(tracing.tracer, 'x', {}, () => expect(traceLogFields()).toBeUndefined());
  });

  it('ends a span when a promise settles, marks failures with their code, and keeps nesting', async () => {
    const recorder = SpanRecorder.start('gateway');
    const { tracer } = recorder.tracing;
    const sync = inSpan(tracer, 'sync', {}, () => 42);
    const pending = inSpan(tracer, 'outer', {}, () => Promise.resolve().then(() => inSpan(tracer, 'inner', {}, () => traceLogFields())));
    expect(sync).toBe(42);
    expect(pending).toBeInstanceOf(Promise);
    const fields = await pending;
    const failure = Object.assign(new Error('nope'), { code: 'NOT_A_NUMBER' });
    await expect(inSpan(tracer, 'rejects', {}, () => Promise.reject(failure))).rejects.toBe(failure);
    expect(() => inSpan(tracer, 'throws', {}, () => { throw new TypeError('bad'); })).toThrow('bad');

    const spans = await recorder.finish();
    const byName = new Map(spans.map((s) => [s.name, s]));
    const outer = byName.get('outer')!;
    const inner = byName.get('inner')!;
    expect(inner.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(inner.spanContext().traceId).toBe(outer.spanContext().traceId);
    expect(fields).toEqual({ trace_id: inner.spanContext().traceId, span_id: inner.spanContext().spanId });
    expect(byName.get('rejects')!.status).toEqual({ code: SpanStatusCode.ERROR, message: 'nope' });
    expect(byName.get('rejects')!.attributes['error.type']).toBe('NOT_A_NUMBER');
    expect(byName.get('throws')!.attributes['error.type']).toBe('TypeError');
    expect(outer.resource.attributes).toMatchObject({ 'service.name': 'merklekv-gateway', 'merklekv.node.id': 'recorder', 'service.instance.id': 'recorder' });
  });

  it('carries the trace context through message headers and traceparent strings', async () => {
    const recorder = SpanRecorder.start();
    const { tracer } = recorder.tracing;
    const headers = headerBag();
    let traceparent: string | undefined;
    inSpan(tracer, 'producer', {}, () => {
      injectTraceContext(headers);
      traceparent = traceparentOf();
    });
    expect(headers.map.get('traceparent')).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(traceparent).toBe(headers.map.get('traceparent'));
    inSpan(tracer, 'from-headers', {}, () => undefined, extractTraceContext(headers));
    inSpan(tracer, 'from-traceparent', {}, () => undefined, contextOfTraceparent(traceparent!));
    inSpan(tracer, 'no-headers', {}, () => undefined, extractTraceContext(headerBag()));
    expect(traceparentOf(context.active())).toBeUndefined();

    const spans = new Map((await recorder.finish()).map((s) => [s.name, s]));
    const producer = spans.get('producer')!.spanContext();
    for (const name of ['from-headers', 'from-traceparent']) {
      expect(spans.get(name)!.spanContext().traceId).toBe(producer.traceId);
      expect(spans.get(name)!.parentSpanContext?.spanId).toBe(producer.spanId);
    }
    expect(spans.get('no-headers')!.spanContext().traceId).not.toBe(producer.traceId);
  });

  it('hashes keys stably and without revealing them', () => {
    expect(keyHash('user:42')).toMatch(/^[0-9a-f]{16}$/);
    expect(keyHash('user:42')).toBe(keyHash('user:42'));
    expect(keyHash('user:43')).not.toBe(keyHash('user:42'));
  });
});

describe('antiEntropyTelemetry', () => {
  it('counts sessions by outcome, keys, bytes and round trips, and traces sessions', async () => {
    const recorder = SpanRecorder.start();
    const metrics = new PrometheusMetrics({ defaults: false });
    const ae = antiEntropyTelemetry(metrics, recorder.tracing);
    await ae.session('b', async () => ae.completed({ keysPulled: 3, keysPushed: 0, bytesSent: 40, bytesReceived: 120, roundTrips: 1 }));
    await expect(ae.session('c', () => Promise.reject(new Error('peer gone')))).rejects.toThrow('peer gone');
    const text = await metrics.exposition();
    for (const line of [
      'merklekv_anti_entropy_sessions_total{outcome="ok"} 1',
      'merklekv_anti_entropy_sessions_total{outcome="error"} 1',
      'merklekv_anti_entropy_keys_repaired_total{direction="pulled"} 3',
      'merklekv_anti_entropy_bytes_total{direction="received"} 120',
      'merklekv_anti_entropy_round_trips_total 1',
      'merklekv_anti_entropy_session_duration_seconds_count 2',
    ]) {
      expect(text).toContain(line);
    }
    const spans = await recorder.finish();
    expect(spans.filter((s) => s.name === 'anti_entropy.session').map((s) => s.attributes['merklekv.peer']).sort()).toEqual(['b', 'c']);
  });
});
