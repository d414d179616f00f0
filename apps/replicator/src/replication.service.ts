import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { type ClusterPort, KvError } from '#commands';
import { type NatsConfig, type NodeConfig } from '#config';
import { Logger } from '#logging';
import {
  ChangeSubscriber,
  type ConsumerBacklog,
  consumerName,
  ensureConsumer,
  ensureStream,
  Membership,
  OutboxPublisher,
  type PeerInfo,
  type ReplicationMetrics,
  replicationMetrics,
  replicationSubjects,
  traceConsumes,
  tracePublishes,
} from '#replication';
import { Store, type StoreOutbox } from '#store';
import { Telemetry, type Tracing } from '#telemetry';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { natsConnectionOptions } from '../../shared/src/nats-options.js';
import { Readiness } from '../../shared/src/readiness.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { NODE_VERSION } from '../../shared/src/version.js';
import { outboxSource, storeSink, type TracedChangeSource } from './store-ports.js';

/** Room for a change's key, CRDT metadata and headers beside its value. */
const CHANGE_OVERHEAD_BYTES = 64 * 1024;

/** How often the consumer's backlog is asked from JetStream: INFO, /v1/cluster, /metrics and readiness. */
const BACKLOG_REFRESH_MS = 2000;

/** The most each replication part may take to stop (the node's whole stop budget is 4.5 s). */
const STOP_STEP_MS = 1000;

/** Delay between attempts to create the stream and consumer while NATS is not usable yet. */
const SETUP_RETRY_MS = 1000;

/**
 * Beyond this many unpublished changes the node reports itself unready: JetStream is not
 * keeping up (or not storing), and the outbox grows with every distinct key written.
 */
export const OUTBOX_READY_LIMIT = 100_000;

export interface ClusterView {
  readonly cluster: string;
  readonly node: {
    readonly id: string;
    /** Connected to NATS and JetStream answering: what /readyz asks of the link. */
    readonly connected: boolean;
    /** Why not, when not connected (the reason /readyz gives). */
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
  /** What the anti-entropy service adds, when it runs. */
  readonly antiEntropy?: object;
}

/**
 * What a sibling service (anti-entropy) adds to this node's cluster port: INFO lines,
 * `/v1/cluster` fields, and the SYNC and AE commands. It attaches itself at start.
 */
export type ClusterExtension = Pick<ClusterPort, 'describe' | 'view' | 'exchange'> & {
  /** SYNC host port; what it resolves with is the extension's own business. */
  sync(host: string, port: number): Promise<unknown>;
};

/** The NATS connection and membership view, once replication has started. */
export interface ClusterRuntime {
  readonly nc: NatsConnection;
  readonly membership: Membership;
}

/**
 * The replicator: publishes this node's outbox to JetStream and merges other nodes' changes,
 * and keeps the membership view. NATS being away never blocks the node: the connection is made
 * in the background (writes meanwhile accumulate in the outbox), and everything resumes when
 * NATS returns.
 */
@Injectable()
export class ReplicationService implements ClusterPort, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly nats: NatsConfig;
  private readonly maxValueBytes: number;
  private readonly outbox: StoreOutbox;
  private readonly logger: Logger;
  private readonly tracing: Tracing;
  private readonly metrics: ReplicationMetrics;
  private readonly source: TracedChangeSource;
  private nc: NatsConnection | undefined;
  /** The connection is up (not merely opened once: false while it reconnects). */
  private connected = false;
  /** JetStream answered for our stream and consumer at the last look. */
  private jetStreamReady = false;
  private publisher: OutboxPublisher | undefined;
  private subscriber: ChangeSubscriber | undefined;
  private membership: Membership | undefined;
  private enabled: boolean;
  private stopped = false;
  /** Per origin node: changes merged here and when the last one was. */
  private readonly appliedFrom = new Map<string, { count: number; at: number }>();
  private backlog: ConsumerBacklog | undefined;
  private backlogTimer: NodeJS.Timeout | undefined;
  private starting: Promise<void> | undefined;
  private toggles: Promise<void> = Promise.resolve();
  private readonly hostedShards: ReadonlySet<number>;
  private extension: ClusterExtension | undefined;
  private readonly started: Promise<ClusterRuntime | undefined>;
  private settleStarted!: (runtime: ClusterRuntime | undefined) => void;

  constructor(
    @Inject(NODE_CONFIG) config: NodeConfig,
    private readonly store: Store,
    private readonly lifecycle: NodeLifecycle,
    logger: Logger,
    telemetry: Telemetry,
    readiness: Readiness,
  ) {
    if (!config.nats) throw new Error('the replicator needs a NATS configuration');
    if (!store.outbox) throw new Error('the replicator needs a store that records an outbox');
    this.nats = config.nats;
    this.maxValueBytes = config.maxValueBytes;
    this.hostedShards = new Set(config.split.hostedShards);
    this.outbox = store.outbox;
    this.enabled = config.replication.enabled;
    this.logger = logger.child({ component: 'replicator', cluster: config.nats.cluster });
    this.started = new Promise((resolve) => (this.settleStarted = resolve));
    this.tracing = telemetry.tracing;
    this.source = outboxSource(store, this.outbox);
    this.metrics = replicationMetrics(telemetry.metrics, () => ({
      connected: this.connected,
      replicating: this.enabled,
      outboxDepth: this.outbox.depth,
      consumer: this.backlog,
      peers: this.membership?.view() ?? [],
    }));
    readiness.add({ name: 'replication', problem: () => this.readinessProblem() });
  }

  /**
   * Why this node does not reach the cluster, if it does not: the NATS connection is down, or it
   * looks up but JetStream does not answer (a partition can leave a dead connection open for
   * minutes, until NATS's pings time out). /readyz and /v1/cluster both report this one answer.
   */
  private linkProblem(): string | undefined {
    if (!this.connected) return 'not connected to NATS';
    if (!this.jetStreamReady) {
      return `JetStream does not answer for stream ${replicationSubjects(this.nats.cluster).stream} and consumer ${consumerName(this.store.nodeId)}`;
    }
    return undefined;
  }

  /** Why this node should not take traffic as a cluster member, if it should not. */
  private readinessProblem(): string | undefined {
    const link = this.linkProblem();
    if (link !== undefined) return link;
    const depth = this.outbox.depth;
    if (depth > OUTBOX_READY_LIMIT) return `the outbox holds ${depth} unpublished changes (limit ${OUTBOX_READY_LIMIT})`;
    return undefined;
  }

  onApplicationBootstrap(): void {
    this.starting = this.start()
      .catch((err: unknown) => {
        if (!this.stopped) this.logger.error('replication failed to start', { error: err });
      })
      .finally(() => this.settleStarted(this.nc && this.membership && !this.stopped ? { nc: this.nc, membership: this.membership } : undefined));
  }

  /** Resolves once connected and announcing (undefined if the node stopped first). */
  whenStarted(): Promise<ClusterRuntime | undefined> {
    return this.started;
  }

  /** Lets the anti-entropy service add its INFO lines, /v1/cluster fields and commands. */
  attach(extension: ClusterExtension): void {
    this.extension = extension;
  }

  sync(host: string, port: number): Promise<void> {
    return this.extension ? this.extension.sync(host, port).then(() => undefined) : Promise.reject(new KvError('UNAVAILABLE', 'anti-entropy does not run on this node'));
  }

  exchange(message: Uint8Array): Promise<Uint8Array> {
    return this.extension ? this.extension.exchange(message) : Promise.reject(new KvError('UNAVAILABLE', 'anti-entropy does not run on this node'));
  }

  /**
   * Whether no change of this node waits to be published and no change of another node waits
   * to be merged here, asked from JetStream now (tombstone collection needs it fresh).
   */
  async settled(): Promise<boolean> {
    const subscriber = this.subscriber;
    if (!this.enabled || subscriber === undefined || this.outbox.depth > 0) return false;
    try {
      const backlog = await subscriber.backlog();
      return backlog.pending === 0 && backlog.ackPending === 0 && this.outbox.depth === 0;
    } catch {
      return false;
    }
  }

  get replicating(): boolean {
    return this.enabled;
  }

  get liveNodes(): number {
    return 1 + (this.membership?.view().filter((p) => p.state === 'alive').length ?? 0);
  }

  /**
   * REPLICATE enable/disable: stops or resumes both directions; unsent changes wait in the
   * outbox. Calls run one after another, so concurrent toggles from several clients end in the
   * state the last one asked for.
   */
  setReplication(enabled: boolean): Promise<void> {
    this.toggles = this.toggles.then(() => this.applyReplication(enabled));
    return this.toggles;
  }

  private async applyReplication(enabled: boolean): Promise<void> {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    this.logger.info(enabled ? 'replication enabled' : 'replication disabled');
    if (enabled) {
      this.subscriber?.resume();
      this.startPublisher();
    } else {
      await this.subscriber?.pause();
      const publisher = this.publisher;
      this.publisher = undefined;
      await publisher?.stop();
    }
  }

  /** `key:value` lines for INFO. */
  describe(): (readonly [string, string])[] {
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
      ...(this.extension?.describe() ?? []),
    ];
  }

  view(): ClusterView {
    const now = Date.now();
    const applied = this.subscriber?.stats;
    const linkProblem = this.linkProblem();
    return {
      cluster: this.nats.cluster,
      node: {
        id: this.store.nodeId,
        connected: linkProblem === undefined,
        ...(linkProblem === undefined ? {} : { connectionProblem: linkProblem }),
        replicating: this.enabled,
        outboxDepth: this.outbox.depth,
        applied: applied?.applied ?? 0,
        garbage: applied?.garbage ?? 0,
        published: this.publisher?.stats.published ?? 0,
        consumerPending: this.backlog?.pending,
      },
      peers: (this.membership?.view() ?? []).map((p) => ({
        id: p.id,
        state: p.state,
        addresses: p.addresses,
        version: p.version,
        lastSeenMsAgo: Math.max(0, now - p.lastSeenAt),
        outboxDepth: p.outboxDepth,
        applied: this.appliedFrom.get(p.id)?.count ?? 0,
        lastAppliedMsAgo: this.appliedFrom.has(p.id) ? now - this.appliedFrom.get(p.id)!.at : undefined,
      })),
      ...(this.extension ? { antiEntropy: this.extension.view() } : {}),
    };
  }

  /**
   * Announces the departure and gives in-flight publishes and merges a moment to finish; what
   * is not acknowledged stays in the outbox (publishes) or in the stream (merges) for next time.
   * Bounded, so that a missing NATS cannot hold up the node's stop.
   */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    this.settleStarted(undefined);
    clearInterval(this.backlogTimer);
    await Promise.all([
      this.membership?.stop(STOP_STEP_MS),
      this.publisher?.stop(STOP_STEP_MS),
      this.subscriber?.stop(STOP_STEP_MS),
    ]);
  }

  async onApplicationShutdown(): Promise<void> {
    const nc = this.nc;
    if (nc && !nc.isClosed()) {
      // Drain flushes what is buffered; with the server away only close can finish.
      if (this.connected) await Promise.race([nc.drain().catch(() => undefined), new Promise((r) => setTimeout(r, STOP_STEP_MS))]);
      if (!nc.isClosed()) await nc.close().catch(() => undefined);
    }
    // A start still setting up the stream when NATS went away may be waiting on a JetStream
    // request's own timeout: like every other step, it gets a bounded share of the stop budget.
    await Promise.race([this.starting, new Promise((r) => setTimeout(r, STOP_STEP_MS).unref())]);
  }

  private async start(): Promise<void> {
    const nc = await this.connectUntilStopped();
    if (!nc) return;
    this.nc = nc;
    this.connected = true;
    if (this.stopped) {
      await nc.close();
      return;
    }
    this.logger.info('connected to NATS', { server: nc.getServer() });
    const maxPayload = nc.info?.max_payload ?? Infinity;
    if (maxPayload < this.maxValueBytes + CHANGE_OVERHEAD_BYTES) {
      this.logger.warn('NATS max_payload is below the largest change this node may publish: raise max_payload on the NATS servers', {
        maxPayload,
        maxValueBytes: this.maxValueBytes,
      });
    }
    void this.watchStatus(nc);

    const jsm = await jetstreamManager(nc);
    // One NATS server holds one copy; a NATS cluster keeps three.
    const replicas = nc.info?.cluster ? 3 : 1;
    for (;;) {
      try {
        await ensureStream(jsm, { cluster: this.nats.cluster, replicas });
        await ensureConsumer(jsm, { cluster: this.nats.cluster, nodeId: this.store.nodeId });
        this.jetStreamReady = true;
        break;
      } catch (err) {
        if (this.stopped) return;
        this.logger.warn('waiting for JetStream', { error: err });
        await new Promise((r) => setTimeout(r, SETUP_RETRY_MS));
      }
    }
    if (this.stopped) return;

    const js = jetstream(nc);
    const log = this.logger;
    this.subscriber = new ChangeSubscriber({
      js,
      cluster: this.nats.cluster,
      nodeId: this.store.nodeId,
      sink: storeSink(this.store, this.hostedShards, this.tracing),
      shards: this.store.shardCount,
      logger: log,
      ...(this.tracing.enabled ? { traced: traceConsumes(this.tracing, this.nats.cluster) } : {}),
      observer: {
        ...this.metrics.subscriber,
        onApplied: (record) => {
          const seen = this.appliedFrom.get(record.origin);
          if (seen) {
            seen.count++;
            seen.at = Date.now();
          } else this.appliedFrom.set(record.origin, { count: 1, at: Date.now() });
          this.metrics.subscriber.onApplied?.(record);
        },
      },
    });
    this.subscriber.start();
    const subscriber = this.subscriber;
    // Also tells whether JetStream still holds our stream and consumer, for readiness.
    const refreshBacklog = (): void => {
      subscriber.backlog().then(
        (backlog) => {
          this.backlog = backlog;
          this.jetStreamReady = true;
        },
        () => {
          this.backlog = undefined;
          this.jetStreamReady = false;
        },
      );
    };
    refreshBacklog();
    this.backlogTimer = setInterval(refreshBacklog, BACKLOG_REFRESH_MS);
    this.backlogTimer.unref();
    if (!this.enabled) await this.subscriber.pause();
    if (this.enabled) this.startPublisher();

    await this.lifecycle.whenReady();
    if (this.stopped || !this.lifecycle.isReady) return;
    const addresses = this.lifecycle.addresses ?? { merklekv: '', http: '' };
    this.membership = new Membership({
      nc,
      cluster: this.nats.cluster,
      self: { id: this.store.nodeId, version: NODE_VERSION, addresses, startedAt: this.lifecycle.startedAt },
      roots: () => this.shardRoots(),
      outboxDepth: () => this.outbox.depth,
      onChange: ({ peer, previous }) => log.info('peer state', { peer: peer.id, state: peer.state, previous }),
      logger: log,
    });
    this.membership.start();
  }

  /**
   * The first connection, retried until it succeeds or the node stops (once connected, the
   * client reconnects by itself for ever). Undefined when the node stopped first.
   */
  private async connectUntilStopped(): Promise<NatsConnection | undefined> {
    const options = natsConnectionOptions(this.nats, `merklekv-${this.store.nodeId}`);
    let warned = false;
    while (!this.stopped) {
      try {
        return await connect(options);
      } catch (err) {
        if (!warned) this.logger.warn('NATS unreachable; serving standalone until it answers', { error: err });
        warned = true;
        await new Promise((r) => setTimeout(r, SETUP_RETRY_MS));
      }
    }
    return undefined;
  }

  private startPublisher(): void {
    if (this.publisher || !this.nc || this.stopped) return;
    const source = this.source;
    this.publisher = new OutboxPublisher({
      nc: this.nc,
      source,
      cluster: this.nats.cluster,
      logger: this.logger,
      observer: this.metrics.publisher,
      ...(this.tracing.enabled ? { trace: tracePublishes(this.tracing, this.nats.cluster, (record) => source.traceOf(record)) } : {}),
    });
    this.publisher.start();
  }

  /** The roots of the shards this process hosts: a store-shard process of a split deployment announces only its own. */
  private shardRoots(): Record<number, string> {
    const roots: Record<number, string> = {};
    for (const shard of this.hostedShards) roots[shard] = Buffer.from(this.store.shardRoot(shard)).toString('hex');
    return roots;
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect' || status.type === 'reconnect') this.logger.info(`NATS ${status.type}`, { server: status.server });
      if (status.type === 'disconnect') this.connected = false;
      if (status.type === 'reconnect') {
        this.connected = true;
        this.metrics.reconnected();
      }
    }
  }
}
