import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerInfo,
  DeliverPolicy,
  DiscardPolicy,
  type JetStreamManager,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from '@nats-io/jetstream';
import { ReplicationError } from './errors.js';
import { API_CODES, isApiError, natsFailure } from './nats-errors.js';
import { consumerName, replicationSubjects } from './subjects.js';
import { positiveInt } from './util.js';

/**
 * The change stream of a cluster and each node's durable consumer.
 *
 * Stream: file storage, limits retention (messages are not deleted when consumed: every node
 * reads every change, and a new node replays what is left), bounded by age (default 24 h) and
 * bytes (default 1 GiB), discarding the oldest first. A node away for longer than the retention
 * is healed by anti-entropy. The duplicate window (default 2 min) is how long JetStream
 * remembers message ids (`origin:seq`): the publisher's retries within it never duplicate.
 *
 * Consumer: one durable pull consumer per node, explicit acks (a change is acked only once its
 * merge is durable), deliver-all (a new node first replays the stream), a bounded number of
 * unacknowledged deliveries, and a bounded number of deliveries per message: the subscriber
 * gives up on a change after `maxDeliver` failed merges and leaves it to anti-entropy, so a
 * change that can never merge cannot pin `max_ack_pending` forever.
 *
 * Only nats-server 2.9 features: one subject filter, no metadata, no consumer pause.
 * Both functions converge: they create what is missing and update what differs in place;
 * two nodes with different settings make the last one to start win.
 */
export interface EnsureStreamOptions {
  readonly cluster: string;
  /** 1 for a single nats-server, 3 for a cluster (default 1). */
  readonly replicas?: 1 | 3;
  /** Default 24 h. */
  readonly maxAgeMs?: number;
  /** Default 1 GiB. */
  readonly maxBytes?: number;
  /** Default 2 min. */
  readonly duplicateWindowMs?: number;
}

export const STREAM_DEFAULTS = {
  replicas: 1,
  maxAgeMs: 24 * 60 * 60 * 1000,
  maxBytes: 1024 * 1024 * 1024,
  duplicateWindowMs: 2 * 60 * 1000,
} as const;

const NS_PER_MS = 1_000_000;


/** Creates the cluster's change stream or updates it to these settings. */
export async function ensureStream(jsm: JetStreamManager, options: EnsureStreamOptions): Promise<StreamInfo> {
  const subjects = replicationSubjects(options.cluster);
  const replicas = options.replicas ?? STREAM_DEFAULTS.replicas;
  if (replicas !== 1 && replicas !== 3) throw new ReplicationError('BAD_OPTIONS', `replicas must be 1 or 3, got ${String(replicas)}`);
  const maxAgeMs = positiveInt('maxAgeMs', options.maxAgeMs ?? STREAM_DEFAULTS.maxAgeMs, Number.MAX_SAFE_INTEGER / NS_PER_MS);
  const duplicateWindowMs = positiveInt('duplicateWindowMs', options.duplicateWindowMs ?? STREAM_DEFAULTS.duplicateWindowMs, maxAgeMs);
  const wanted = {
    subjects: [subjects.changesWildcard],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    discard: DiscardPolicy.Old,
    num_replicas: replicas,
    max_age: maxAgeMs * NS_PER_MS,
    max_bytes: positiveInt('maxBytes', options.maxBytes ?? STREAM_DEFAULTS.maxBytes),
    duplicate_window: duplicateWindowMs * NS_PER_MS,
  } satisfies Partial<StreamConfig>;
  const what = `stream ${subjects.stream}`;

  let current: StreamInfo | undefined;
  try {
    current = await jsm.streams.info(subjects.stream);
  } catch (err) {
    if (!isApiError(err, API_CODES.streamNotFound)) throw natsFailure(`reading ${what}`, err);
  }
  if (current === undefined) {
    try {
      return await jsm.streams.add({ name: subjects.stream, ...wanted });
    } catch (err) {
      // Another node created it in the meantime (with other settings): update it below.
      if (!isApiError(err, API_CODES.streamNameInUse)) throw natsFailure(`creating ${what}`, err);
      current = await jsm.streams.info(subjects.stream).catch((e: unknown) => {
        throw natsFailure(`reading ${what}`, e);
      });
    }
  }
  const c = current.config;
  if (c.storage !== wanted.storage || c.retention !== wanted.retention) {
    throw new ReplicationError(
      'STREAM_CONFLICT',
      `${what} exists with ${c.storage} storage and ${c.retention} retention; replication needs file storage and limits retention (delete the stream to recreate it)`,
    );
  }
  const same =
    c.subjects.length === 1 &&
    c.subjects[0] === wanted.subjects[0] &&
    c.discard === wanted.discard &&
    c.num_replicas === wanted.num_replicas &&
    c.max_age === wanted.max_age &&
    c.max_bytes === wanted.max_bytes &&
    c.duplicate_window === wanted.duplicate_window;
  if (same) return current;
  const { retention: _r, storage: _s, ...update } = wanted;
  try {
    return await jsm.streams.update(subjects.stream, update);
  } catch (err) {
    throw natsFailure(`updating ${what}`, err);
  }
}

export interface EnsureConsumerOptions {
  readonly cluster: string;
  readonly nodeId: string;
  /** Deliveries awaiting an ack before JetStream stops delivering more (default 1024). */
  readonly maxAckPending?: number;
  /** Redelivery after this long without an ack (default 30 s). */
  readonly ackWaitMs?: number;
  /** Deliveries of one message before it is given up on (default 50). */
  readonly maxDeliver?: number;
}

export const CONSUMER_DEFAULTS = {
  maxAckPending: 1024,
  ackWaitMs: 30_000,
  maxDeliver: 50,
} as const;

/** Creates this node's durable pull consumer or updates its limits. */
export async function ensureConsumer(jsm: JetStreamManager, options: EnsureConsumerOptions): Promise<ConsumerInfo> {
  const { stream } = replicationSubjects(options.cluster);
  const name = consumerName(options.nodeId);
  const limits = {
    ack_wait: positiveInt('ackWaitMs', options.ackWaitMs ?? CONSUMER_DEFAULTS.ackWaitMs, 24 * 3600 * 1000) * NS_PER_MS,
    max_ack_pending: positiveInt('maxAckPending', options.maxAckPending ?? CONSUMER_DEFAULTS.maxAckPending, 1_000_000),
    max_deliver: positiveInt('maxDeliver', options.maxDeliver ?? CONSUMER_DEFAULTS.maxDeliver, 1_000_000),
  } satisfies Partial<ConsumerConfig>;
  const what = `consumer ${name} on stream ${stream}`;

  let current: ConsumerInfo | undefined;
  try {
    current = await jsm.consumers.info(stream, name);
  } catch (err) {
    if (!isApiError(err, API_CODES.consumerNotFound)) throw natsFailure(`reading ${what}`, err);
  }
  if (current === undefined) {
    try {
      return await jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
        replay_policy: ReplayPolicy.Instant,
        ...limits,
      });
    } catch (err) {
      throw natsFailure(`creating ${what}`, err);
    }
  }
  const c = current.config;
  if (c.ack_policy !== AckPolicy.Explicit || c.deliver_subject !== undefined) {
    throw new ReplicationError('STREAM_CONFLICT', `${what} exists but is not an explicit-ack pull consumer (delete it to recreate it)`);
  }
  if (c.ack_wait === limits.ack_wait && c.max_ack_pending === limits.max_ack_pending && c.max_deliver === limits.max_deliver) return current;
  try {
    return await jsm.consumers.update(stream, name, limits);
  } catch (err) {
    throw natsFailure(`updating ${what}`, err);
  }
}
