import { injectTraceContext, inSpan, PrometheusMetrics, SpanRecorder, traceparentOf, Tracing, type HeaderCarrier } from '#telemetry';
import { ClientRegistry } from './clients.js';
import { KvError } from './errors.js';
import { instrumentShardChannel, CommandTelemetry, tracedKeyspace, traceShardServe } from './telemetry.js';
import { bytes, executorFixture } from './testing/executor-fixture.js';

const samples = async (metrics: PrometheusMetrics): Promise<string[]> => (await metrics.exposition()).split('\n');

function headerBag(): HeaderCarrier {
  const map = new Map<string, string>();
  return { get: (k) => map.get(k) ?? '', set: (k, v) => void map.set(k, v), keys: () => [...map.keys()] };
}

describe('CommandTelemetry', () => {
  it('counts commands by protocol, name and outcome, times them, and leaves synchronous replies synchronous', async () => {
    const fixture = await executorFixture();
    const metrics = new PrometheusMetrics({ defaults: false });
    const clients = new ClientRegistry();
    clients.register('127.0.0.1:1', 'merklekv');
    clients.register('127.0.0.1:2', 'merklekv').release();
    const telemetry = new CommandTelemetry(metrics, Tracing.disabled, clients);
    const text = telemetry.instrument(fixture.executor, 'merklekv');
    const http = telemetry.instrument(fixture.executor, 'http');

    await text.execute({ name: 'SET', key: 'k', value: bytes('v') });
    expect(text.execute({ name: 'GET', key: 'k' })).not.toBeInstanceOf(Promise);
    await http.execute({ name: 'SET', key: 'k', value: bytes('w') });
    await expect(text.execute({ name: 'INCR', key: 'k', amount: 1n })).rejects.toBeInstanceOf(KvError);

    const lines = await samples(metrics);
    for (const line of [
      'merklekv_commands_total{protocol="merklekv",command="SET",outcome="ok"} 1',
      'merklekv_commands_total{protocol="merklekv",command="GET",outcome="ok"} 1',
      'merklekv_commands_total{protocol="http",command="SET",outcome="ok"} 1',
      'merklekv_commands_total{protocol="merklekv",command="INCR",outcome="NOT_A_NUMBER"} 1',
      'merklekv_command_duration_seconds_count{protocol="merklekv",command="SET"} 1',
      'merklekv_connections{protocol="merklekv"} 1',
      'merklekv_connections_accepted_total 2',
    ]) {
      expect(lines).toContain(line);
    }
    await fixture.close();
  });

  it("traces a command, its shard apply under it, and hands the apply's context to the outbox record", async () => {
    const recorder = SpanRecorder.start();
    const { tracing } = recorder;
    const fixture = await executorFixture({ store: { outbox: true, traceContext: () => traceparentOf() }, keyspace: (store) => tracedKeyspace(store, tracing, 4) });
    const port = new CommandTelemetry(new PrometheusMetrics({ defaults: false }), tracing, new ClientRegistry()).instrument(fixture.executor, 'http');
    await port.execute({ name: 'SET', key: 'user:42', value: bytes('top secret') });
    await port.execute({ name: 'MGET', keys: ['a', 'b'] });
    const [record] = fixture.store.outbox!.read(0n, 10);
    await fixture.close();

    const spans = await recorder.finish();
    const command = spans.find((s) => s.name === 'http SET')!;
    const apply = spans.find((s) => s.name === 'shard.apply')!;
    expect(command.attributes).toMatchObject({ 'merklekv.protocol': 'http', 'merklekv.command': 'SET', 'merklekv.key.hash': expect.stringMatching(/^[0-9a-f]{16}$/) });
    expect(spans.find((s) => s.name === 'http MGET')!.attributes['merklekv.key.count']).toBe(2);
    expect(apply.parentSpanContext?.spanId).toBe(command.spanContext().spanId);
    expect(record!.trace).toBe(`00-${apply.spanContext().traceId}-${apply.spanContext().spanId}-01`);
    const everything = JSON.stringify(spans.map((s) => [s.name, s.attributes]));
    expect(everything).not.toContain('user:42');
    expect(everything).not.toContain('top secret');
  });
});

describe('split deployment telemetry', () => {
  it("counts and traces a gateway's shard requests, and the store side continues the trace from the request headers", async () => {
    const recorder = SpanRecorder.start('gateway');
    const { tracing } = recorder;
    const metrics = new PrometheusMetrics({ defaults: false });
    const sent: HeaderCarrier[] = [];
    const channel = instrumentShardChannel(
      {
        request: (shard) => {
          const headers = headerBag();
          injectTraceContext(headers);
          sent.push(headers);
          return shard === 13 ? Promise.reject(new Error('no responders')) : traceShardServe(tracing, shard, headers, () => Promise.resolve('answer'));
        },
        openInbox: () => Promise.reject(new Error('no watches in this test')),
      },
      metrics,
      tracing,
    );
    await inSpan(tracing.tracer, 'merklekv GET', {}, () => channel.request(2, {}));
    await expect(channel.request(13, {})).rejects.toThrow('no responders');
    const lines = await samples(metrics);
    expect(lines).toContain('merklekv_shard_requests_total{outcome="ok"} 1');
    expect(lines).toContain('merklekv_shard_requests_total{outcome="error"} 1');
    expect(lines).toContain('merklekv_shard_request_duration_seconds_count 2');

    const spans = await recorder.finish();
    const command = spans.find((s) => s.name === 'merklekv GET')!;
    const request = spans.find((s) => s.name === 'shard.request' && s.attributes['merklekv.shard'] === 2)!;
    const serve = spans.find((s) => s.name === 'shard.serve')!;
    expect(request.parentSpanContext?.spanId).toBe(command.spanContext().spanId);
    expect(serve.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(serve.spanContext().traceId).toBe(command.spanContext().traceId);
    expect(sent[0]!.get('traceparent')).toContain(request.spanContext().spanId);
  });
});
