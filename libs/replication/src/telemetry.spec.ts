import { increment } from '#crdt';
import { PrometheusMetrics, SpanRecorder, traceparentOf, inSpan } from '#telemetry';
import { type PeerInfo } from './membership.js';
import { type ChangeRecord } from './ports.js';
import { type ReplicationState, replicationMetrics, traceConsumes, traceMerge, tracePublishes } from './telemetry.js';

const change = (origin: string, wall: number, key = 'k'): ChangeRecord => ({
  kind: 'entry',
  origin,
  seq: 7n,
  shard: 3,
  key,
  entry: { type: 'register', stamp: { hlc: { wall, logical: 0 }, node: origin }, value: Buffer.from('secret value') },
});

const peer = (id: string, state: PeerInfo['state'], outboxDepth: number): PeerInfo => ({
  id,
  state,
  outboxDepth,
  version: '0',
  addresses: { merklekv: '', http: '' },
  startedAt: 0,
  roots: {},
  load: 0,
  leaving: false,
  lastSeenAt: 0,
});

describe('replicationMetrics', () => {
  it('counts publishes and merges, and reads the gauges at scrape time', async () => {
    const metrics = new PrometheusMetrics({ defaults: false });
    let state: ReplicationState = { connected: true, replicating: true, outboxDepth: 4, consumer: { pending: 9, ackPending: 1, redelivered: 0 }, peers: [peer('b', 'alive', 2), peer('c', 'dead', 0)] };
    const replication = replicationMetrics(metrics, () => state, () => 10_500);
    replication.publisher.onPublished?.(3);
    replication.publisher.onFailure?.(new Error('timeout'));
    replication.subscriber.onApplied?.(change('b', 10_000));
    replication.subscriber.onApplied?.(change('b', 10_250));
    replication.subscriber.onApplied?.(change('c', 9_000));
    replication.subscriber.onSkippedOwn?.(change('a', 0));
    replication.reconnected();
    const lines = (await metrics.exposition()).split('\n');
    for (const line of [
      'merklekv_replication_published_total 3',
      'merklekv_replication_publish_failures_total 1',
      'merklekv_replication_applied_total{origin="b"} 2',
      'merklekv_replication_applied_total{origin="c"} 1',
      'merklekv_replication_lag_seconds{peer="b"} 0.25',
      'merklekv_replication_lag_seconds{peer="c"} 1.5',
      'merklekv_replication_skipped_own_total 1',
      'merklekv_nats_reconnects_total 1',
      'merklekv_outbox_depth 4',
      'merklekv_nats_connected 1',
      'merklekv_replication_consumer_pending 9',
      'merklekv_membership_peers{state="alive"} 1',
      'merklekv_membership_peers{state="suspect"} 0',
      'merklekv_membership_peers{state="dead"} 1',
      'merklekv_peer_outbox_depth{peer="b"} 2',
    ]) {
      expect(lines).toContain(line);
    }
    // A counter's stamp is its epoch (zero for a new key): only the write's clock dates it.
    const counter = (written?: number): ChangeRecord => ({
      kind: 'entry',
      origin: 'c',
      seq: 8n,
      shard: 3,
      key: 'counted',
      entry: increment(undefined, 1n, { hlc: { wall: 0, logical: 0 }, node: 'c' }).entry,
      ...(written === undefined ? {} : { written: { wall: written, logical: 0 } }),
    });
    replication.subscriber.onApplied?.(counter(10_000));
    expect((await metrics.exposition()).split('\n')).toContain('merklekv_replication_lag_seconds{peer="c"} 0.5');
    replication.subscriber.onApplied?.(counter());
    expect((await metrics.exposition()).split('\n')).toContain('merklekv_replication_lag_seconds{peer="c"} 0.5');

    state = { ...state, connected: false, consumer: undefined };
    const after = await metrics.exposition();
    expect(after).toContain('merklekv_nats_connected 0');
    expect(after).not.toMatch(/^merklekv_replication_consumer_pending /m);
  });
});

describe('replication spans', () => {
  it('publish continues the write, consume continues the publish, merge sits in the consume; keys only hashed', async () => {
    const recorder = SpanRecorder.start();
    const { tracing } = recorder;
    const record = change('a', 1);
    let writeTrace: string | undefined;
    inSpan(tracing.tracer, 'write', {}, () => (writeTrace = traceparentOf()));
    const publish = tracePublishes(tracing, 'c1', (r) => (r === record ? writeTrace : undefined));
    expect(publish(change('a', 1))).toBeUndefined();
    const traced = publish(record)!;
    traced.end();
    const failed = publish(record)!;
    failed.end(Object.assign(new Error('no stream'), { code: 'NATS_UNAVAILABLE' }));
    await traceConsumes(tracing, 'c1')(traced.traceparent, record, () => traceMerge(tracing, record, () => Promise.resolve(true)).then(() => undefined));

    const spans = await recorder.finish();
    const write = spans.find((s) => s.name === 'write')!;
    const [published, failedPublish] = spans.filter((s) => s.name === 'replication.publish');
    const consumed = spans.find((s) => s.name === 'replication.consume')!;
    const merged = spans.find((s) => s.name === 'replication.merge')!;
    const traceId = write.spanContext().traceId;
    expect([published, consumed, merged].map((s) => s!.spanContext().traceId)).toEqual([traceId, traceId, traceId]);
    expect(published!.parentSpanContext?.spanId).toBe(write.spanContext().spanId);
    expect(consumed.parentSpanContext?.spanId).toBe(published!.spanContext().spanId);
    expect(merged.parentSpanContext?.spanId).toBe(consumed.spanContext().spanId);
    expect(published!.attributes).toMatchObject({ 'messaging.destination.name': 'merklekv.c1.changes.3', 'merklekv.change.origin': 'a', 'merklekv.change.seq': '7', 'merklekv.shard': 3 });
    expect(failedPublish!.attributes['error.type']).toBe('NATS_UNAVAILABLE');
    const everything = JSON.stringify(spans.map((s) => s.attributes));
    expect(everything).toContain('merklekv.key.hash');
    expect(everything).not.toContain('secret value');
    expect(everything).not.toContain('"k"');
  });
});
