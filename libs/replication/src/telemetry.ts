/**
 * Replication's metrics and spans, in one place. The replicator hands the results to the
 * publisher and subscriber (their observer and trace hooks); nothing here touches NATS.
 */
import { ATTR, contextOfTraceparent, failSpan, type GaugeChild, inSpan, keyHash, type Metrics, SPAN, SpanKind, traceparentOfSpan, type Tracing } from '#telemetry';
import { undatedByEntry } from './change-codec.js';
import { type PeerInfo, type PeerState } from './membership.js';
import { type ChangeRecord } from './ports.js';
import { type PublisherObserver, type PublishTrace } from './publisher.js';
import { replicationSubjects } from './subjects.js';
import { type ConsumerBacklog, type SubscriberObserver } from './subscriber.js';

/** What the replication gauges read at scrape time. */
export interface ReplicationState {
  readonly connected: boolean;
  readonly replicating: boolean;
  readonly outboxDepth: number;
  /** Undefined while JetStream cannot be asked. */
  readonly consumer: ConsumerBacklog | undefined;
  readonly peers: readonly PeerInfo[];
}

export interface ReplicationMetrics {
  readonly publisher: PublisherObserver;
  readonly subscriber: SubscriberObserver;
  /** The NATS connection came back after it was lost. */
  reconnected(): void;
}

const PEER_STATES: readonly PeerState[] = ['alive', 'suspect', 'dead'];

/**
 * When a change was written, by its origin's clock (ms since the epoch); undefined when nothing
 * says (a counter or set change from a node that did not send its write's clock, or one restored
 * from its outbox after a restart): such an entry's own stamp is when it started.
 */
function writtenAt(record: ChangeRecord): number | undefined {
  if (record.kind === 'truncate') return record.floor.hlc.wall;
  if (record.written !== undefined) return record.written.wall;
  return undatedByEntry(record) ? undefined : record.entry.stamp.hlc.wall;
}

export function replicationMetrics(metrics: Metrics, state: () => ReplicationState, now: () => number = Date.now): ReplicationMetrics {
  const published = metrics.counter({ name: 'replication_published_total', help: 'Changes JetStream acknowledged storing (duplicates included).' });
  const publishFailures = metrics.counter({ name: 'replication_publish_failures_total', help: 'Failed publishes and outbox acknowledgements (retried).' });
  const rejected = metrics.counter({ name: 'replication_rejected_total', help: 'Changes that can never be published (left to anti-entropy).' });
  const applied = metrics.counter({ name: 'replication_applied_total', help: "Other nodes' changes merged here, by origin node.", labels: ['origin'] });
  const skippedOwn = metrics.counter({ name: 'replication_skipped_own_total', help: "This node's own changes read back from the stream and skipped." });
  const garbage = metrics.counter({ name: 'replication_garbage_total', help: 'Malformed messages on the change subjects, dropped.' });
  const applyFailures = metrics.counter({ name: 'replication_apply_failures_total', help: 'Failed merges and failed pulls (retried).' });
  const lag = metrics.gauge({
    name: 'replication_lag_seconds',
    help: "Age of the latest change merged from each peer when it was merged: write on the peer to durable here (by the two nodes' clocks).",
    labels: ['peer'],
  });
  const reconnects = metrics.counter({ name: 'nats_reconnects_total', help: 'Times the NATS connection came back after it was lost.' });
  metrics.gauge({ name: 'outbox_depth', help: 'Local changes not yet acknowledged by JetStream.', collect: (report) => report(state().outboxDepth, {}) });
  metrics.gauge({ name: 'nats_connected', help: '1 while the replication NATS connection is up.', collect: (report) => report(state().connected ? 1 : 0, {}) });
  metrics.gauge({ name: 'replication_enabled', help: '1 while this node publishes and applies changes (REPLICATE).', collect: (report) => report(state().replicating ? 1 : 0, {}) });
  // Absent, rather than a stale figure, while JetStream cannot be asked.
  const consumerGauge = (name: string, help: string, figure: (backlog: ConsumerBacklog) => number): void => {
    metrics.gauge({
      name,
      help,
      collect: (report) => {
        const consumer = state().consumer;
        if (consumer) report(figure(consumer), {});
      },
    });
  };
  consumerGauge('replication_consumer_pending', "Stream messages not yet delivered to this node's durable consumer.", (c) => c.pending);
  consumerGauge('replication_consumer_ack_pending', "Messages delivered to this node's consumer and not yet acknowledged.", (c) => c.ackPending);
  metrics.gauge({
    name: 'membership_peers',
    help: 'Peers by membership state.',
    labels: ['state'],
    collect: (report) => {
      const peers = state().peers;
      for (const peerState of PEER_STATES) report(peers.filter((p) => p.state === peerState).length, { state: peerState });
    },
  });
  metrics.gauge({
    name: 'peer_outbox_depth',
    help: 'Changes each peer has not yet had stored by JetStream, as it last announced.',
    labels: ['peer'],
    collect: (report) => {
      for (const peer of state().peers) report(peer.outboxDepth, { peer: peer.id });
    },
  });

  const byOrigin = new Map<string, { readonly applied: { inc(): void }; readonly lag: GaugeChild }>();
  return {
    publisher: {
      onPublished: (count) => published.inc(count),
      onFailure: () => publishFailures.inc(),
      onRejected: () => rejected.inc(),
    },
    subscriber: {
      onApplied: (record) => {
        let origin = byOrigin.get(record.origin);
        if (!origin) {
          origin = { applied: applied.labels({ origin: record.origin }), lag: lag.labels({ peer: record.origin }) };
          byOrigin.set(record.origin, origin);
        }
        origin.applied.inc();
        const written = writtenAt(record);
        if (written !== undefined) origin.lag.set(Math.max(0, now() - written) / 1000);
      },
      onSkippedOwn: () => skippedOwn.inc(),
      onGarbage: () => garbage.inc(),
      onFailure: () => applyFailures.inc(),
    },
    reconnected: () => reconnects.inc(),
  };
}

function changeAttributes(record: ChangeRecord, subject: string): Record<string, string | number> {
  return {
    [ATTR.messagingSystem]: 'nats',
    [ATTR.messagingDestination]: subject,
    [ATTR.changeOrigin]: record.origin,
    [ATTR.changeSeq]: record.seq.toString(),
    [ATTR.shard]: record.shard,
    ...(record.kind === 'entry' ? { [ATTR.keyHash]: keyHash(record.key) } : {}),
  };
}

/**
 * The publisher's `trace` hook: a PRODUCER span per publish of a traced write (`parentOf` gives
 * the write's traceparent), whose context the message carries to the other nodes. Records of
 * untraced writes (older than this process, say) are published without a span.
 */
export function tracePublishes(tracing: Tracing, cluster: string, parentOf: (record: ChangeRecord) => string | undefined): (record: ChangeRecord) => PublishTrace | undefined {
  const subjects = replicationSubjects(cluster);
  return (record) => {
    const parent = parentOf(record);
    if (parent === undefined) return undefined;
    const attributes = { ...changeAttributes(record, subjects.changes(record.shard)), [ATTR.messagingOperation]: 'publish' };
    const span = tracing.tracer.startSpan(SPAN.publish, { kind: SpanKind.PRODUCER, attributes }, contextOfTraceparent(parent));
    return {
      traceparent: traceparentOfSpan(span),
      end: (error) => {
        if (error !== undefined) failSpan(span, error);
        span.end();
      },
    };
  };
}

/** The subscriber's `traced` hook: a CONSUMER span per change, continuing the writer's trace. */
export function traceConsumes(tracing: Tracing, cluster: string): (traceparent: string, record: ChangeRecord, run: () => Promise<void>) => Promise<void> {
  const subjects = replicationSubjects(cluster);
  return (traceparent, record, run) =>
    inSpan(
      tracing.tracer,
      SPAN.consume,
      { kind: SpanKind.CONSUMER, attributes: { ...changeAttributes(record, subjects.changes(record.shard)), [ATTR.messagingOperation]: 'process' } },
      run,
      contextOfTraceparent(traceparent),
    );
}

/** Runs the merge of `record` into the local store, as a span when tracing is on. */
export function traceMerge<T>(tracing: Tracing, record: ChangeRecord, merge: () => Promise<T>): Promise<T> {
  if (!tracing.enabled) return merge();
  const attributes = { [ATTR.changeOrigin]: record.origin, [ATTR.shard]: record.shard, ...(record.kind === 'entry' ? { [ATTR.keyHash]: keyHash(record.key) } : {}) };
  return inSpan(tracing.tracer, SPAN.merge, { attributes }, merge);
}
