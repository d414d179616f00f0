/**
 * The replication of one node, apart from the framework that runs it: publishes the node's
 * outbox to JetStream, merges other nodes' changes, keeps the membership view, and answers what
 * the node reports about all three (readiness, INFO, `/v1/cluster`).
 *
 * - NATS being away never blocks the node: the first connection (through the caller's
 *   `connect`) and the stream and consumer set-up are retried with jittered backoff until they
 *   succeed or the node stops; writes meanwhile accumulate in the outbox. Once connected, the
 *   client reconnects by itself and everything resumes when NATS returns.
 * - Ready: connected, JetStream answering for the stream and the consumer (asked every couple
 *   of seconds: a partition can leave a dead connection looking up for minutes), and an outbox
 *   that JetStream keeps up with.
 * - REPLICATE enable/disable stops or resumes both directions; unsent changes wait in the
 *   outbox. Toggles run one after another, so concurrent ones end in the state asked last.
 * - Settled (what tombstone collection asks): nothing waits to be published, nothing waits to
 *   be merged, asked from JetStream at the time.
 * - The node announces itself (membership) only once it serves, with the addresses `announce`
 *   gives.
 *
 * The clock (ages in the view, the lag metric) and the randomness (retry jitter) are injected.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { type Metrics, type Tracing } from '#telemetry';
import { Membership, type MembershipOptions, type NodeAddresses, type PeerInfo } from './membership.js';
import { type ChangeRecord, type ChangeSink, type ChangeSource } from './ports.js';
import { OutboxPublisher, type OutboxPublisherOptions } from './publisher.js';
import { consumerName, replicationSubjects } from './subjects.js';
import { ChangeSubscriber, type ChangeSubscriberOptions, type ConsumerBacklog } from './subscriber.js';
import { ensureConsumer, ensureStream } from './stream.js';
import { type ReplicationMetrics, type ReplicationState, replicationMetrics, traceConsumes, tracePublishes } from './telemetry.js';
import { Backoff, type BackoffOptions, type ReplicationLogger, Sleeper } from './util.js';

export interface ReplicatorLogger extends ReplicationLogger {
  info(msg: string, fields?: Readonly<Record<string, unknown>>): void;
  error(msg: string, fields?: Readonly<Record<string, unknown>>): void;
}

/** What the node announces about itself once it serves. */
export interface AnnouncedSelf {
  readonly addresses: NodeAddresses;
  /** ms since the epoch. */
  readonly startedAt: number;
}

export interface ReplicatorOptions {
  readonly cluster: string;
  readonly nodeId: string;
  /** The node's version, announced to peers. */
  readonly version: string;
  /** The cluster's shard count. */
  readonly shards: number;
  /** Dials NATS once; the replicator retries while it fails. */
  readonly connect: () => Promise<NatsConnection>;
  /** The node's outbox; `traceOf` gives the traceparent of the write behind a change, when it was traced. */
  readonly source: ChangeSource & { traceOf?(change: ChangeRecord): string | undefined };
  readonly sink: ChangeSink;
  /** Whether replication runs from the start (REPLICATE changes it later). */
  readonly enabled: boolean;
  /** The largest value the node accepts: a NATS max_payload too small for its change is warned about. */
  readonly maxValueBytes: number;
  /** Resolves once the node serves, with what to announce; undefined if it stops first (then it never announces). */
  readonly announce: () => Promise<AnnouncedSelf | undefined>;
  /** The hex roots of the shards this process hosts, for announcements. */
  readonly roots: () => Readonly<Record<number, string>>;
  readonly logger: ReplicatorLogger;
  /** Where replication's metrics go (none by default). */
  readonly metrics?: Metrics;
  /** Spans for publishes and merges, when enabled. */
  readonly tracing?: Tracing;
  /** Beyond this many unpublished changes the node is unready (default 100 000). */
  readonly outboxReadyLimit?: number;
  /** Delays between attempts to connect and to set up the stream (default 500 ms to 1 s, jittered). */
  readonly setupRetry?: BackoffOptions;
  /** How often the consumer's backlog is asked from JetStream (default 2 s). */
  readonly backlogRefreshMs?: number;
  /** The most each part may take to stop (default 1 s). */
  readonly stopStepMs?: number;
  /** Tuning of the parts (tests shorten their timeouts). */
  readonly publisher?: Partial<OutboxPublisherOptions>;
  readonly subscriber?: Partial<ChangeSubscriberOptions>;
  readonly membership?: Partial<MembershipOptions>;
  /** ms since the epoch; default Date.now. */
  readonly now?: () => number;
  /** In [0, 1); default Math.random. */
  readonly random?: () => number;
}

/** The NATS connection and the membership view, once replication has started. */
export interface ReplicatorRuntime {
  readonly nc: NatsConnection;
  readonly membership: Membership;
}

export interface ReplicationView {
  readonly cluster: string;
  readonly node: {
    readonly id: string;
    /** Connected to NATS and JetStream answering: what readiness asks of the link. */
    readonly connected: boolean;
    /** Why not, when not connected (the reason readiness gives). */
    readonly connectionProblem?: string;
    readonly replicating: boolean;
    readonly outboxDepth: number;
    readonly applied: number;
    readonly garbage: number;
    readonly published: number;
    /** Stream messages not yet delivered to this node (refreshed every couple of seconds). */
    readonly consumerPending: number | undefined;
  };
  readonly peers: readonly {
    readonly id: string;
    readonly state: PeerInfo['state'];
    readonly addresses: PeerInfo['addresses'];
    readonly version: string;
    readonly lastSeenMsAgo: number;
    /** Changes the peer has not yet had acknowledged by NATS: how far behind the cluster is on its writes. */
    readonly outboxDepth: number;
    /** Changes of this peer merged here, and how long ago the last one was. */
    readonly applied: number;
    readonly lastAppliedMsAgo: number | undefined;
  }[];
}

/** Room for a change's key, CRDT metadata and headers beside its value. */
const CHANGE_OVERHEAD_BYTES = 64 * 1024;

export const REPLICATOR_DEFAULTS = {
  outboxReadyLimit: 100_000,
  setupRetry: { initialMs: 1_000, maxMs: 1_000 },
  backlogRefreshMs: 2_000,
  stopStepMs: 1_000,
} as const;

export class Replicator {
  readonly #options: ReplicatorOptions;
  readonly #logger: ReplicatorLogger;
  readonly #now: () => number;
  readonly #outboxReadyLimit: number;
  readonly #stopStepMs: number;
  readonly #metrics: ReplicationMetrics | undefined;
  readonly #retry: Backoff;
  readonly #sleeper = new Sleeper();
  #nc: NatsConnection | undefined;
  /** The connection is up (not merely opened once: false while it reconnects). */
  #connected = false;
  /** JetStream answered for our stream and consumer at the last look. */
  #jetStreamReady = false;
  #publisher: OutboxPublisher | undefined;
  #subscriber: ChangeSubscriber | undefined;
  #membership: Membership | undefined;
  #enabled: boolean;
  #stopped = false;
  /** Per origin node: changes merged here and when the last one was. */
  readonly #appliedFrom = new Map<string, { count: number; at: number }>();
  #backlog: ConsumerBacklog | undefined;
  #backlogTimer: NodeJS.Timeout | undefined;
  #starting: Promise<void> | undefined;
  #toggles: Promise<void> = Promise.resolve();
  readonly #started: Promise<ReplicatorRuntime | undefined>;
  #settleStarted!: (runtime: ReplicatorRuntime | undefined) => void;

  constructor(options: ReplicatorOptions) {
    this.#options = options;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#enabled = options.enabled;
    this.#outboxReadyLimit = options.outboxReadyLimit ?? REPLICATOR_DEFAULTS.outboxReadyLimit;
    this.#stopStepMs = options.stopStepMs ?? REPLICATOR_DEFAULTS.stopStepMs;
    this.#retry = new Backoff({ ...REPLICATOR_DEFAULTS.setupRetry, ...options.setupRetry, random: options.random ?? Math.random });
    this.#started = new Promise((resolve) => (this.#settleStarted = resolve));
    const state = (): ReplicationState => ({
      connected: this.#connected,
      replicating: this.#enabled,
      outboxDepth: options.source.depth,
      consumer: this.#backlog,
      peers: this.#membership?.view() ?? [],
    });
    this.#metrics = options.metrics === undefined ? undefined : replicationMetrics(options.metrics, state, this.#now);
  }

  /** Starts in the background; whenStarted() tells when it is connected and announcing. */
  start(): void {
    this.#starting ??= this.#start()
      .catch((err: unknown) => {
        if (!this.#stopped) this.#logger.error('replication failed to start', { error: err });
      })
      .finally(() => this.#settleStarted(this.#nc && this.#membership && !this.#stopped ? { nc: this.#nc, membership: this.#membership } : undefined));
  }

  /** Resolves once connected and announcing (undefined if stopped first). */
  whenStarted(): Promise<ReplicatorRuntime | undefined> {
    return this.#started;
  }

  get replicating(): boolean {
    return this.#enabled;
  }

  /** Live nodes of the cluster, this one included. */
  get liveNodes(): number {
    return 1 + (this.#membership?.view().filter((p) => p.state === 'alive').length ?? 0);
  }

  /**
   * Why this node does not reach the cluster, if it does not: the NATS connection is down, or it
   * looks up but JetStream does not answer.
   */
  #linkProblem(): string | undefined {
    if (!this.#connected) return 'not connected to NATS';
    if (!this.#jetStreamReady) {
      return `JetStream does not answer for stream ${replicationSubjects(this.#options.cluster).stream} and consumer ${consumerName(this.#options.nodeId)}`;
    }
    return undefined;
  }

  /** Why this node should not take traffic as a cluster member, if it should not. */
  readinessProblem(): string | undefined {
    const link = this.#linkProblem();
    if (link !== undefined) return link;
    const depth = this.#options.source.depth;
    if (depth > this.#outboxReadyLimit) return `the outbox holds ${depth} unpublished changes (limit ${this.#outboxReadyLimit})`;
    return undefined;
  }

  /** Whether no change of this node waits to be published and no change of another waits to be merged here, asked from JetStream now. */
  async settled(): Promise<boolean> {
    const subscriber = this.#subscriber;
    const outbox = this.#options.source;
    if (!this.#enabled || subscriber === undefined || outbox.depth > 0) return false;
    try {
      const backlog = await subscriber.backlog();
      return backlog.pending === 0 && backlog.ackPending === 0 && outbox.depth === 0;
    } catch {
      return false;
    }
  }

  /** REPLICATE enable/disable; calls run one after another. */
  setReplication(enabled: boolean): Promise<void> {
    this.#toggles = this.#toggles.then(() => this.#applyReplication(enabled));
    return this.#toggles;
  }

  async #applyReplication(enabled: boolean): Promise<void> {
    if (enabled === this.#enabled) return;
    this.#enabled = enabled;
    this.#logger.info(enabled ? 'replication enabled' : 'replication disabled');
    if (enabled) {
      this.#subscriber?.resume();
      this.#startPublisher();
    } else {
      await this.#subscriber?.pause();
      const publisher = this.#publisher;
      this.#publisher = undefined;
      await publisher?.stop();
    }
  }

  /** `key:value` lines for INFO. */
  describe(): [string, string][] {
    const view = this.view();
    return [
      ['role', 'cluster'],
      ['cluster', view.cluster],
      ['nats_connected', view.node.connected ? '1' : '0'],
      ['replication', view.node.replicating ? 'enabled' : 'disabled'],
      ['outbox_depth', String(view.node.outboxDepth)],
      ['replication_applied', String(view.node.applied)],
      ['replication_garbage', String(view.node.garbage)],
      ['replication_pending', view.node.consumerPending === undefined ? 'unknown' : String(view.node.consumerPending)],
      ['peers_alive', String(view.peers.filter((p) => p.state === 'alive').length)],
      ['peers_suspect', String(view.peers.filter((p) => p.state === 'suspect').length)],
      ['peers_dead', String(view.peers.filter((p) => p.state === 'dead').length)],
      ...view.peers.map((p): [string, string] => [
        `peer_${p.id}`,
        `state=${p.state},addr=${p.addresses.merklekv},outbox=${p.outboxDepth},applied=${p.applied},last_applied_ms=${p.lastAppliedMsAgo ?? -1}`,
      ]),
    ];
  }

  view(): ReplicationView {
    const now = this.#now();
    const applied = this.#subscriber?.stats;
    const linkProblem = this.#linkProblem();
    return {
      cluster: this.#options.cluster,
      node: {
        id: this.#options.nodeId,
        connected: linkProblem === undefined,
        ...(linkProblem === undefined ? {} : { connectionProblem: linkProblem }),
        replicating: this.#enabled,
        outboxDepth: this.#options.source.depth,
        applied: applied?.applied ?? 0,
        garbage: applied?.garbage ?? 0,
        published: this.#publisher?.stats.published ?? 0,
        consumerPending: this.#backlog?.pending,
      },
      peers: (this.#membership?.view() ?? []).map((p) => {
        const from = this.#appliedFrom.get(p.id);
        return {
          id: p.id,
          state: p.state,
          addresses: p.addresses,
          version: p.version,
          lastSeenMsAgo: Math.max(0, now - p.lastSeenAt),
          outboxDepth: p.outboxDepth,
          applied: from?.count ?? 0,
          lastAppliedMsAgo: from === undefined ? undefined : Math.max(0, now - from.at),
        };
      }),
    };
  }

  /**
   * Announces the departure and gives in-flight publishes and merges a moment to finish; what
   * is not acknowledged stays in the outbox (publishes) or in the stream (merges) for next time.
   * Bounded, so that a missing NATS cannot hold up the node's stop. The connection stays open
   * for close(), so that the node's other users of it can stop first.
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#settleStarted(undefined);
    this.#sleeper.cancel();
    clearInterval(this.#backlogTimer);
    await Promise.all([this.#membership?.stop(this.#stopStepMs), this.#publisher?.stop(this.#stopStepMs), this.#subscriber?.stop(this.#stopStepMs)]);
  }

  /** Closes the connection after stop(), flushing what is buffered if NATS is there to take it. */
  async close(): Promise<void> {
    const nc = this.#nc;
    if (nc && !nc.isClosed()) {
      // Drain flushes what is buffered; with the server away only close can finish.
      if (this.#connected) await Promise.race([nc.drain().catch(() => undefined), this.#delay(this.#stopStepMs)]);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    // A start still setting up the stream when NATS went away may be waiting on a JetStream
    // request's own timeout: like every other step, it gets a bounded share of the stop budget.
    await Promise.race([this.#starting, this.#delay(this.#stopStepMs)]);
  }

  #delay(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms).unref());
  }

  async #start(): Promise<void> {
    const nc = await this.#connectUntilStopped();
    if (!nc) return;
    this.#nc = nc;
    this.#connected = true;
    if (this.#stopped) {
      await nc.close();
      return;
    }
    const { cluster, nodeId } = this.#options;
    this.#logger.info('connected to NATS', { server: nc.getServer() });
    const maxPayload = nc.info?.max_payload ?? Infinity;
    if (maxPayload < this.#options.maxValueBytes + CHANGE_OVERHEAD_BYTES) {
      this.#logger.warn('NATS max_payload is below the largest change this node may publish: raise max_payload on the NATS servers', {
        maxPayload,
        maxValueBytes: this.#options.maxValueBytes,
      });
    }
    void this.#watchStatus(nc);

    const jsm = await jetstreamManager(nc);
    // One NATS server holds one copy; a NATS cluster keeps three.
    const replicas = nc.info?.cluster ? 3 : 1;
    this.#retry.reset();
    for (;;) {
      try {
        await ensureStream(jsm, { cluster, replicas });
        await ensureConsumer(jsm, { cluster, nodeId });
        this.#jetStreamReady = true;
        break;
      } catch (err) {
        if (this.#stopped) return;
        this.#logger.warn('waiting for JetStream', { error: err });
        await this.#sleeper.sleep(this.#retry.next());
      }
    }
    if (this.#stopped) return;

    const tracing = this.#options.tracing?.enabled ? this.#options.tracing : undefined;
    const subscriber = new ChangeSubscriber({
      js: jetstream(nc),
      cluster,
      nodeId,
      sink: this.#options.sink,
      shards: this.#options.shards,
      logger: this.#logger,
      ...(tracing ? { traced: traceConsumes(tracing, cluster) } : {}),
      observer: {
        ...this.#metrics?.subscriber,
        onApplied: (record) => {
          const seen = this.#appliedFrom.get(record.origin);
          if (seen) {
            seen.count++;
            seen.at = this.#now();
          } else this.#appliedFrom.set(record.origin, { count: 1, at: this.#now() });
          this.#metrics?.subscriber.onApplied?.(record);
        },
      },
      ...this.#options.subscriber,
    });
    this.#subscriber = subscriber;
    subscriber.start();
    // Also tells whether JetStream still holds our stream and consumer, for readiness.
    const refreshBacklog = (): void => {
      subscriber.backlog().then(
        (backlog) => {
          this.#backlog = backlog;
          this.#jetStreamReady = true;
        },
        () => {
          this.#backlog = undefined;
          this.#jetStreamReady = false;
        },
      );
    };
    refreshBacklog();
    this.#backlogTimer = setInterval(refreshBacklog, this.#options.backlogRefreshMs ?? REPLICATOR_DEFAULTS.backlogRefreshMs);
    this.#backlogTimer.unref();
    if (this.#enabled) this.#startPublisher();
    else await subscriber.pause();

    const self = await this.#options.announce();
    if (this.#stopped || self === undefined) return;
    const log = this.#logger;
    this.#membership = new Membership({
      nc,
      cluster,
      self: { id: nodeId, version: this.#options.version, ...self },
      roots: this.#options.roots,
      outboxDepth: () => this.#options.source.depth,
      onChange: ({ peer, previous }) => log.info('peer state', { peer: peer.id, state: peer.state, previous }),
      logger: log,
      ...this.#options.membership,
    });
    this.#membership.start();
  }

  /** The first connection, retried until it succeeds or the replicator stops (undefined then). */
  async #connectUntilStopped(): Promise<NatsConnection | undefined> {
    let warned = false;
    this.#retry.reset();
    while (!this.#stopped) {
      try {
        return await this.#options.connect();
      } catch (err) {
        if (!warned) this.#logger.warn('NATS unreachable; serving standalone until it answers', { error: err });
        warned = true;
        await this.#sleeper.sleep(this.#retry.next());
      }
    }
    return undefined;
  }

  #startPublisher(): void {
    if (this.#publisher || !this.#nc || this.#stopped) return;
    const { cluster, source } = this.#options;
    const tracing = this.#options.tracing?.enabled ? this.#options.tracing : undefined;
    const traceOf = source.traceOf?.bind(source);
    this.#publisher = new OutboxPublisher({
      nc: this.#nc,
      source,
      cluster,
      logger: this.#logger,
      ...(this.#metrics ? { observer: this.#metrics.publisher } : {}),
      ...(tracing && traceOf ? { trace: tracePublishes(tracing, cluster, traceOf) } : {}),
      ...this.#options.publisher,
    });
    this.#publisher.start();
  }

  async #watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') this.#logger.info(`NATS ${status.type}`, { server: status.server });
      if (status.type === 'disconnect') this.#connected = false;
      if (status.type === 'reconnect') {
        this.#connected = true;
        this.#metrics?.reconnected();
      }
    }
  }
}
