import {
  pullFromReference,
  runSession,
  type SessionProgress,
  type SessionReport,
  type Transport,
} from '#anti-entropy';
import { KvError, type PeerSync } from '#commands';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { type ReplicaStore } from '#store';
import { type AntiEntropyTelemetry } from '#telemetry';
import { NotASessionPeer, TextPeer } from './text-peer.js';

/** How long a peer gets to answer one session message. */
export const REQUEST_TIMEOUT_MS = 15_000;
/** Connections SYNC opens to a server without anti-entropy. */
const REFERENCE_CONNECTIONS = 4;
/** Sessions SYNC runs before it gives up on converging with a peer that keeps changing. */
const SYNC_ATTEMPTS = 3;
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

/**
 * Anti-entropy sessions with peers and what they left: the rounds of a clustered node, and
 * SYNC host port, which a standalone node runs too (it needs no NATS: the session messages
 * travel as `AE` lines of the text protocol, and a server without anti-entropy is read by SCAN
 * and GET).
 */
export class PeerSessions implements PeerSync {
  /** The last session with each peer (node id, or host:port). */
  readonly last = new Map<string, SessionRecord>();
  /** Sessions in progress, by peer. */
  readonly running = new Map<string, AbortController>();
  /** Where the session streaming into empty shards is, while one does. */
  progress: SessionProgress | undefined;
  private progressLoggedAt = 0;
  private readonly graceMs: number;

  constructor(
    private readonly store: ReplicaStore,
    private readonly config: NodeConfig,
    private readonly logger: Logger,
    private readonly telemetry: AntiEntropyTelemetry,
  ) {
    this.graceMs = config.antiEntropy.tombstoneGraceSeconds * 1000;
  }

  /** Cancels every session in progress. */
  abortAll(): void {
    for (const controller of this.running.values()) controller.abort();
  }

  /** One session with `peer`; its controller stays in {@link running} meanwhile, to cancel it. */
  async session(peer: string, transport: Transport): Promise<SessionReport> {
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
  record(peer: string, via: SessionRecord['via'], reports: readonly SessionReport[]): SessionRecord {
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
  async sync(host: string, port: number): Promise<void> {
    await this.converge(host, port);
  }

  /** SYNC's sessions, and the record of what they did. */
  async converge(host: string, port: number): Promise<SessionRecord> {
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
}
