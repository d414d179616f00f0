import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Subscription } from '@nats-io/transport-node';
import { AntiEntropyCoordinator, AntiEntropyError, encodeReply, Responder, TombstoneCollector, type Transport } from '#anti-entropy';
import { KvError } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { type Replicator, type ReplicatorRuntime } from '#replication';
import { type ReplicaStore, Store } from '#store';
import { Telemetry } from '#telemetry';
import { type ClusterExtension } from '../../replicator/src/cluster-port.js';
import { ReplicationService } from '../../replicator/src/replication.service.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { PeerSessions, REQUEST_TIMEOUT_MS, type SessionRecord } from './peer-sessions.js';

/** Requests the responder answers at once; beyond, peers are told to come back later. */
const MAX_RESPONDING = 16;

/** The NATS subject a node serves anti-entropy sessions on, under its cluster's namespace. */
export const sessionSubject = (cluster: string, nodeId: string): string => `merklekv.${cluster}.ae.${nodeId}`;

/**
 * The anti-entropy coordinator of a clustered node: serves peers' sessions on NATS
 * request/reply (reusing the replicator's connection), runs a round with a live peer every
 * interval (with jitter) or on demand, collects tombstones once that is safe, and runs SYNC.
 */
@Injectable()
export class AntiEntropyService implements ClusterExtension, OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger: Logger;
  private readonly sessions: PeerSessions;
  private readonly responder: Responder;
  private readonly collector: TombstoneCollector;
  private readonly replication: Replicator;
  private runtime: ReplicatorRuntime | undefined;
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private responding = 0;
  /** When rounds run and with whom (the policy; this service runs the timers and the transports). */
  private readonly coordinator: AntiEntropyCoordinator;

  constructor(
    @Inject(NODE_CONFIG) private readonly config: NodeConfig,
    @Inject(Store) private readonly store: ReplicaStore,
    replicationService: ReplicationService,
    logger: Logger,
    telemetry: Telemetry,
  ) {
    this.logger = logger.child({ component: 'anti-entropy' });
    this.replication = replicationService.replicator;
    this.sessions = new PeerSessions(store, config, this.logger, telemetry.antiEntropy);
    this.responder = new Responder({
      store,
      available: () => this.replication.replicating && !this.stopped,
      clean: () => this.replication.settled(),
      limits: { maxValueBytes: config.maxValueBytes },
    });
    this.collector = new TombstoneCollector({ store, graceMs: config.antiEntropy.tombstoneGraceSeconds * 1000 });
    this.coordinator = new AntiEntropyCoordinator({
      intervalMs: config.antiEntropy.intervalSeconds * 1000,
      staticPeers: config.antiEntropy.peers.map((p) => `${p.host}:${p.port}`),
    });
  }

  onApplicationBootstrap(): void {
    void this.start();
  }

  private async start(): Promise<void> {
    const runtime = await this.replication.whenStarted();
    if (runtime === undefined || this.stopped) return;
    this.runtime = runtime;
    const cluster = this.config.nats!.cluster;
    this.subscription = runtime.nc.subscribe(sessionSubject(cluster, this.store.nodeId), {
      callback: (err, msg) => {
        if (err !== null) return;
        // The connection may be closing under a late answer: the peer's request then times out.
        void this.answer(msg.data)
          .then((reply) => msg.respond(reply))
          .catch(() => undefined);
      },
    });
    runtime.membership.onChange(({ peer }) => {
      if (peer.state === 'dead') this.sessions.running.get(peer.id)?.abort();
    });
    if (this.config.antiEntropy.enabled) this.schedule(this.coordinator.firstDelayMs());
    this.logger.info('anti-entropy serving', { subject: sessionSubject(cluster, this.store.nodeId), rounds: this.config.antiEntropy.enabled });
  }

  private answer(message: Uint8Array): Promise<Uint8Array> {
    if (this.responding >= MAX_RESPONDING) return Promise.resolve(BUSY);
    this.responding++;
    return this.responder.handle(message).finally(() => this.responding--);
  }

  /** The next round after `ms`. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        // Paused with replication: a node that neither publishes nor applies changes repairs nothing either.
        void (this.replication.replicating ? this.round() : Promise.resolve())
          .catch((err: unknown) => {
            if (!this.stopped) this.logger.warn('anti-entropy round failed', { error: err });
          })
          .finally(() => this.schedule(this.coordinator.nextDelayMs()));
      },
      ms,
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.sessions.abortAll();
    this.subscription?.unsubscribe();
  }

  /**
   * One round now: a session with `peerId`, or with whichever live member or static peer
   * (`anti_entropy.peer_list`, over the text protocol) was synced least recently, then a
   * tombstone collection pass. Undefined when there is no peer.
   */
  async round(peerId?: string): Promise<SessionRecord | undefined> {
    const runtime = this.runtime;
    if (runtime === undefined) throw new KvError('UNAVAILABLE', 'anti-entropy is not connected to NATS yet');
    if (!this.replication.replicating) throw new KvError('UNAVAILABLE', 'replication is disabled on this node: REPLICATE enable first');
    const view = runtime.membership.view();
    this.collector.observe(view.map((p) => p.id));
    const candidates = view.map((p) => ({
      id: p.id,
      alive: p.state === 'alive',
      // A store-shard process of a split deployment announces the roots of the shards it hosts only.
      fullReplica: Object.keys(p.roots).length === this.store.shardCount,
    }));
    const target = this.coordinator.choose(candidates, (peer) => this.sessions.running.has(peer), peerId);
    if (target === undefined) {
      if (peerId !== undefined) throw new KvError('NOT_FOUND', `no live peer ${peerId} that is not syncing already`);
      return undefined;
    }
    if (target.kind === 'static') {
      const address = this.config.antiEntropy.peers.find((p) => `${p.host}:${p.port}` === target.address)!;
      return this.sync(address.host, address.port);
    }
    const chosen = target.id;
    const subject = sessionSubject(this.config.nats!.cluster, chosen);
    const transport: Transport = async (request, signal) => (await abortable(runtime.nc.request(subject, request, { timeout: REQUEST_TIMEOUT_MS }), signal)).data;
    const selfClean = await this.replication.settled();
    const report = await this.sessions.session(chosen, transport);
    const record = this.sessions.record(chosen, 'nats', [report]);
    this.collector.recordSession(chosen, report.completedShards, report.startedAt, report.peerClean, selfClean);
    const collected = await this.collector.collect();
    if (collected > 0) this.logger.info('tombstones collected', { collected, total: this.collector.collected });
    return record;
  }

  /** SYNC host port, as a standalone node runs it too. */
  sync(host: string, port: number): Promise<SessionRecord> {
    return this.sessions.converge(host, port);
  }

  exchange(message: Uint8Array): Promise<Uint8Array> {
    return this.answer(message);
  }

  describe(): readonly (readonly [string, string])[] {
    const progress = this.sessions.progress;
    return [
      ['anti_entropy', this.config.antiEntropy.enabled ? 'enabled' : 'on demand'],
      ['anti_entropy_interval_seconds', String(this.config.antiEntropy.intervalSeconds)],
      ['anti_entropy_rounds', String(this.coordinator.rounds)],
      ['anti_entropy_merged_from_peers', String(this.responder.stats.merged)],
      ['anti_entropy_tombstones_collected', String(this.collector.collected)],
      ['anti_entropy_sync', progress === undefined ? 'idle' : `streaming streamed=${progress.streamed},shards_left=${progress.streamingShards}`],
      ...[...this.sessions.last.values()].map((r): [string, string] => [
        // An INFO key holds no ':' (SYNC's peers are host:port).
        `anti_entropy_peer_${r.peer.replace(/[^A-Za-z0-9_.-]/g, '_')}`,
        `at=${r.at},via=${r.via},result=${r.result},keys_repaired=${r.keysRepaired},bytes_sent=${r.bytesSent},bytes_received=${r.bytesReceived},round_trips=${r.roundTrips},duration_ms=${r.durationMs}`,
      ]),
    ];
  }

  view(): object {
    return {
      enabled: this.config.antiEntropy.enabled,
      intervalSeconds: this.config.antiEntropy.intervalSeconds,
      rounds: this.coordinator.rounds,
      tombstonesCollected: this.collector.collected,
      responder: this.responder.stats,
      syncing: this.sessions.progress ?? null,
      sessions: [...this.sessions.last.values()],
    };
  }
}

/** The reply to a peer beyond MAX_RESPONDING: try again later. */
const BUSY = encodeReply({ kind: 'error', code: 'UNAVAILABLE', message: 'too many anti-entropy requests in progress here; try again later' });

/** Rejects with ABORTED as soon as `signal` fires (the NATS request itself times out on its own). */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new AntiEntropyError('ABORTED', 'the session was cancelled'));
  return new Promise((resolve, reject) => {
    const onAbort = (): void => reject(new AntiEntropyError('ABORTED', 'the session was cancelled'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
