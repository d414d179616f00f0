/**
 * #replication: the NATS side of replication, framework-free. It never dials NATS itself: callers
 * hand it a connected client (`NatsConnection`, `jetstream(nc)`, `jetstreamManager(nc)`), or the
 * Replicator a `connect` function.
 *
 * - the change wire format (change-codec.ts) and NATS names (subjects.ts)
 * - the JetStream stream and per-node durable consumer (stream.ts)
 * - OutboxPublisher: outbox -> JetStream; ChangeSubscriber: JetStream -> merge (the essay on
 *   guarantees is at the top of publisher.ts)
 * - Membership: announcements, the peer view, failure detection (membership.ts)
 * - Replicator: the three run together for one node, with its readiness, REPLICATE and reports
 *   (replicator.ts)
 *
 * The store implements the ports (ports.ts): ChangeSource (its outbox) and ChangeSink (merge).
 */
export { type ChangeRecord, type ChangeSink, type ChangeSource } from './ports.js';
export { CHANGE_FORMAT_VERSION, type DecodeChangeOptions, decodeChange, encodeChange } from './change-codec.js';
export { MAX_SHARDS, type ReplicationSubjects, consumerName, replicationSubjects, shardRequestSubject, watchSubjectPrefix } from './subjects.js';
export {
  CONSUMER_DEFAULTS,
  type EnsureConsumerOptions,
  type EnsureStreamOptions,
  STREAM_DEFAULTS,
  ensureConsumer,
  ensureStream,
} from './stream.js';
export {
  OutboxPublisher,
  type OutboxPublisherOptions,
  PUBLISHER_DEFAULTS,
  type PublisherObserver,
  type PublisherStats,
  type PublishTrace,
} from './publisher.js';
export {
  ChangeSubscriber,
  type ChangeSubscriberOptions,
  type ConsumerBacklog,
  SUBSCRIBER_DEFAULTS,
  type SubscriberObserver,
  type SubscriberStats,
} from './subscriber.js';
export {
  ANNOUNCEMENT_VERSION,
  type Announcement,
  MEMBERSHIP_DEFAULTS,
  Membership,
  type MembershipOptions,
  type MembershipStats,
  type NodeAddresses,
  type PeerChange,
  type PeerInfo,
  type PeerState,
  decodeAnnouncement,
  encodeAnnouncement,
} from './membership.js';
export { type BackoffOptions, type ReplicationLogger } from './util.js';
export { ReplicationError, type ReplicationErrorCode, isReplicationError } from './errors.js';
export { type ReplicationMetrics, type ReplicationState, replicationMetrics, traceConsumes, traceMerge, tracePublishes } from './telemetry.js';
export {
  type AnnouncedSelf,
  REPLICATOR_DEFAULTS,
  type ReplicationView,
  Replicator,
  type ReplicatorLogger,
  type ReplicatorOptions,
  type ReplicatorRuntime,
} from './replicator.js';
