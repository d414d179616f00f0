import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap } from '@nestjs/common';
import { type Subscription } from '@nats-io/transport-node';
import {
  AntiEntropyError,
  encodeReply,
  pullFromReference,
  Responder,
  runSession,
  type SessionProgress,
  type SessionReport,
  TombstoneCollector,
  type Transport,
} from '#anti-entropy';
import { KvError } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { type PeerInfo } from '#replication';
import { Store } from '#store';
import { type AntiEntropyTelemetry, Telemetry } from '#telemetry';
import { type ClusterExtension, type ClusterRuntime, ReplicationService } from '../../replicator/src/replication.service.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { NotASessionPeer, TextPeer } from './text-peer.js';

/** How long a peer gets to answer one session message. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Connections SYNC opens to a server without anti-entropy. */
const REFERENCE_CONNECTIONS = 4;
/** Sessions SYNC runs before it gives up on converging with a peer that keeps changing. */
const SYNC_ATTEMPTS = 3;
/** Requests the responder answers at once; beyond, peers are told to come back later. */
const MAX_RESPONDING = 16;
/** The first round follows start-up soon, so that a new or wiped node fills up without waiting an interval. */
const FIRST_ROUND_MS = 2_000;
/** Streaming progress is logged at most this often. */
const PROGRESS_LOG_MS = 5_000;

/** The last session with a peer, as INFO and /v1/cluster show it. */
export interface SessionRecord {
  readonly peer: string;
  /** `nats` for rounds between cluster members, `text` for SYNC host port, `scan` for SYNC's SCAN/GET fallback. */
  readonly via: 'nats' | 'text' | 'scan';
  /** ISO time of the start. */
  readonly at: string;
  readonly durationMs: number;
  /** `ok`, or the error code that ended it. */
  readonly result: string;
  readonly keysRepaired: number;
  readonly keysPulled: number;
  readonly keysPushed: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly roundTrips: number;
  readonly shardsDiffering: number;
}

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
  private readonly telemetry: AntiEntropyTelemetry;
  private readonly responder: Responder;
  private readonly collector: TombstoneCollector;
  private readonly graceMs: number;
  private runtime: ClusterRuntime | undefined;
  private subscription: Subscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private responding = 0;
  private rounds = 0;
  private readonly last = new Map<string, SessionRecord>();
  /** When each peer (node id, or host:port of a static peer) was last picked for a round. */
  private readonly roundAt = new Map<string, number>();
  /** Sessions in progress, by peer: aborted when membership declares the peer dead. */
  private readonly running = new Map<string, AbortController>();
  private progress: SessionProgress | undefined;
  private progressLoggedAt = 0;

  constructor(
    @Inject(NODE_CONFIG) private readonly config: NodeConfig,
    private readonly store: Store,
    private readonly replication: ReplicationService,
    logger: Logger,
    telemetry: Telemetry,
  ) {
    this.logger = logger.child({ component: 'anti-entropy' });
    this.telemetry = telemetry.antiEntropy;
    this.graceMs = config.antiEntropy.tombstoneGraceSeconds * 1000;
    this.responder = new Responder({
      store,
      available: () => replication.replicating && !this.stopped,
      clean: () => replication.settled(),
      limits: { maxValueBytes: config.maxValueBytes },
    });
    this.collector = new TombstoneCollector({ store, graceMs: this.graceMs });
    replication.attach(this);
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
      if (peer.state === 'dead') this.running.get(peer.id)?.abort();
    });
    if (this.config.antiEntropy.enabled) this.schedule(Math.min(FIRST_ROUND_MS, this.config.antiEntropy.intervalSeconds * 1000));
    this.logger.info('anti-entropy serving', { subject: sessionSubject(cluster, this.store.nodeId), rounds: this.config.antiEntropy.enabled });
  }

  private answer(message: Uint8Array): Promise<Uint8Array> {
    if (this.responding >= MAX_RESPONDING) return Promise.resolve(BUSY);
    this.responding++;
    return this.responder.handle(message).finally(() => this.responding--);
  }

  /** The next round after about `ms` (±20% jitter, so that nodes started together drift apart). */
  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(
      () => {
        // Paused with replication: a node that neither publishes nor applies changes repairs nothing either.
        void (this.replication.replicating ? this.round() : Promise.resolve())
          .catch((err: unknown) => {
            if (!this.stopped) this.logger.warn('anti-entropy round failed', { error: err });
          })
          .finally(() => this.schedule(this.config.antiEntropy.intervalSeconds * 1000));
      },
      ms * (0.8 + Math.random() * 0.4),
    );
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const controller of this.running.values()) controller.abort();
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
    // A store-shard process of a split deployment holds some shards only (and serves no sessions):
    // a full replica syncs with full replicas.
    const fullReplica = (p: PeerInfo): boolean => Object.keys(p.roots).length === this.store.shardCount;
    const members = view.filter((p) => p.state === 'alive' && fullReplica(p) && !this.running.has(p.id)).map((p) => p.id);
    if (peerId !== undefined && !members.includes(peerId)) throw new KvError('NOT_FOUND', `no live peer ${peerId} that is not syncing already`);
    const statics = peerId === undefined ? this.config.antiEntropy.peers.map((p) => `${p.host}:${p.port}`).filter((a) => !this.running.has(a)) : [];
    const choices = peerId === undefined ? [...members, ...statics] : [peerId];
    const chosen = choices.sort((x, y) => (this.roundAt.get(x) ?? 0) - (this.roundAt.get(y) ?? 0) || Math.random() - 0.5)[0];
    if (chosen === undefined) return undefined;
    this.rounds++;
    this.roundAt.set(chosen, Date.now());
    const address = this.config.antiEntropy.peers.find((p) => `${p.host}:${p.port}` === chosen);
    if (address !== undefined && !members.includes(chosen)) return this.sync(address.host, address.port);
    const subject = sessionSubject(this.config.nats!.cluster, chosen);
    const transport: Transport = async (request, signal) => (await abortable(runtime.nc.request(subject, request, { timeout: REQUEST_TIMEOUT_MS }), signal)).data;
    const selfClean = await this.replication.settled();
    const report = await this.session(chosen, transport);
    const record = this.record(chosen, 'nats', [report]);
    this.collector.recordSession(chosen, report.completedShards, report.startedAt, report.peerClean, selfClean);
    const collected = await this.collector.collect();
    if (collected > 0) this.logger.info('tombstones collected', { collected, total: this.collector.collected });
    return record;
  }

  private async session(peer: string, transport: Transport): Promise<SessionReport> {
    const controller = new AbortController();
    this.running.set(peer, controller);
    try {
      return await this.telemetry.session(peer, async () => {
        const report = await runSession({
          store: this.store,
          transport,
          signal: controller.signal,
          limits: { byteBudget: this.config.antiEntropy.sessionBudgetBytes },
          tombstoneGraceMs: this.graceMs,
          onProgress: (progress) => this.onProgress(peer, progress),
        });
        this.telemetry.completed(report);
        return report;
      });
    } finally {
      this.running.delete(peer);
      this.progress = undefined;
    }
  }

  /** Keeps (and logs) the last exchange with a peer: one session, or the sessions of one SYNC added up. */
  private record(peer: string, via: SessionRecord['via'], reports: readonly SessionReport[]): SessionRecord {
    const first = reports[0]!;
    const final = reports.at(-1)!;
    const sum = (field: 'keysPulled' | 'keysPushed' | 'bytesSent' | 'bytesReceived' | 'roundTrips' | 'differences'): number =>
      reports.reduce((n, r) => n + r[field], 0);
    const record: SessionRecord = {
      peer: final.peer ?? peer,
      via,
      at: new Date(first.startedAt).toISOString(),
      durationMs: final.startedAt + final.durationMs - first.startedAt,
      result: final.error === null ? 'ok' : final.error.code,
      keysRepaired: sum('keysPulled') + sum('keysPushed'),
      keysPulled: sum('keysPulled'),
      keysPushed: sum('keysPushed'),
      bytesSent: sum('bytesSent'),
      bytesReceived: sum('bytesReceived'),
      roundTrips: sum('roundTrips'),
      shardsDiffering: first.shardsDiffering,
    };
    this.last.set(record.peer, record);
    if (final.error !== null) this.logger.warn('anti-entropy session failed', { ...record, error: final.error.message });
    else if (sum('differences') > 0) this.logger.info('anti-entropy repaired drift', { ...record });
    else this.logger.debug('anti-entropy found no drift', { ...record });
    return record;
  }

  private onProgress(peer: string, progress: SessionProgress): void {
    this.progress = progress;
    const now = Date.now();
    if (now - this.progressLoggedAt >= PROGRESS_LOG_MS || progress.streamingShards === 0) {
      this.progressLoggedAt = now;
      this.logger.info('syncing from a peer into empty shards', { peer, streamed: progress.streamed, shardsLeft: progress.streamingShards });
    }
  }

  /**
   * SYNC host port: sessions with the node at that address until one finds nothing left to
   * repair; against a server without anti-entropy, its keys and values by SCAN and GET.
   */
  async sync(host: string, port: number): Promise<SessionRecord> {
    const address = `${host}:${port}`;
    const peer = await TextPeer.connect(host, port, REQUEST_TIMEOUT_MS).catch((err: unknown) => {
      throw new KvError('UNAVAILABLE', `SYNC cannot reach ${address}: ${err instanceof Error ? err.message : String(err)}`);
    });
    const reports: SessionReport[] = [];
    try {
      for (let attempt = 1; attempt <= SYNC_ATTEMPTS; attempt++) {
        const report = await this.session(address, (request) => peer.exchange(request));
        if (report.error?.cause instanceof NotASessionPeer && report.requests === 1) return await this.syncFromReference(host, port, peer);
        reports.push(report);
        if (report.error !== null) break;
        if (report.differences === 0) return this.record(address, 'text', reports);
      }
    } finally {
      peer.close();
    }
    const record = this.record(address, 'text', reports);
    const failure = reports.at(-1)!.error;
    throw new KvError(
      'UNAVAILABLE',
      failure === null
        ? `SYNC with ${address} did not converge in ${SYNC_ATTEMPTS} sessions: the peer keeps changing`
        : `SYNC with ${address} failed: ${record.result}: ${failure.message}`,
    );
  }

  private async syncFromReference(host: string, port: number, first: TextPeer): Promise<SessionRecord> {
    const extra = await Promise.all(Array.from({ length: REFERENCE_CONNECTIONS - 1 }, () => TextPeer.connect(host, port, REQUEST_TIMEOUT_MS)));
    const pool = [first, ...extra];
    let turn = 0;
    const startedAt = Date.now();
    try {
      const report = await pullFromReference(
        this.store,
        { scan: () => first.scan(), get: (key) => pool[turn++ % pool.length]!.get(key) },
        REFERENCE_CONNECTIONS,
      );
      const peer = `${host}:${port}`;
      const record: SessionRecord = {
        peer,
        via: 'scan',
        at: new Date(startedAt).toISOString(),
        durationMs: Date.now() - startedAt,
        result: 'ok',
        keysRepaired: report.changed,
        keysPulled: report.changed,
        keysPushed: 0,
        bytesSent: pool.reduce((n, c) => n + c.traffic.sent, 0),
        bytesReceived: pool.reduce((n, c) => n + c.traffic.received, 0),
        // SCAN, then the GETs, one at a time per connection.
        roundTrips: 1 + Math.ceil(report.keys / pool.length),
        shardsDiffering: 0,
      };
      this.last.set(peer, record);
      this.logger.info('SYNC pulled from a server without anti-entropy', { peer, ...report });
      return record;
    } catch (err) {
      throw new KvError('UNAVAILABLE', `SYNC from ${host}:${port} (SCAN/GET) failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      for (const peer of extra) peer.close();
    }
  }

  exchange(message: Uint8Array): Promise<Uint8Array> {
    return this.answer(message);
  }

  describe(): readonly (readonly [string, string])[] {
    const progress = this.progress;
    return [
      ['anti_entropy', this.config.antiEntropy.enabled ? 'enabled' : 'on demand'],
      ['anti_entropy_interval_seconds', String(this.config.antiEntropy.intervalSeconds)],
      ['anti_entropy_rounds', String(this.rounds)],
      ['anti_entropy_merged_from_peers', String(this.responder.stats.merged)],
      ['anti_entropy_tombstones_collected', String(this.collector.collected)],
      ['anti_entropy_sync', progress === undefined ? 'idle' : `streaming streamed=${progress.streamed},shards_left=${progress.streamingShards}`],
      ...[...this.last.values()].map((r): [string, string] => [
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
      rounds: this.rounds,
      tombstonesCollected: this.collector.collected,
      responder: this.responder.stats,
      syncing: this.progress ?? null,
      sessions: [...this.last.values()],
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
