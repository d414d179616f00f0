/*
 * Replication's hot path, end to end
 * ==================================
 *
 *   store commit ──► outbox (ChangeSource) ──► OutboxPublisher ──► JetStream stream MERKLEKV_<c>
 *                                                                   subject merklekv.<c>.changes.<shard>
 *   other node: durable consumer node_<id> ──► ChangeSubscriber ──► merge (ChangeSink) ──► ack
 *
 * Guarantees, and where each comes from:
 * - Nothing is lost. A mutation commits together with its outbox record; the record is deleted
 *   (`source.acknowledge`) only after JetStream acknowledged storing it. NATS down means the
 *   outbox grows and drains when NATS returns; a crash means the outbox is published again.
 *   On the receiving side a message is acked only after the merge is durable.
 * - Duplicates are harmless and mostly absent. Each message carries the msgID `origin:seq`, and
 *   JetStream drops a repeated id within the stream's duplicate window, so a retry after a lost
 *   PubAck does not store the change twice. Beyond the window (a very long outage, a restart
 *   replaying the outbox) a duplicate can be stored, and merges are idempotent, so it changes
 *   nothing.
 * - Order. Merges are commutative, so correctness does not depend on order; the publisher still
 *   publishes in seq order and acknowledges the outbox strictly in seq order (only a prefix of
 *   records all stored by JetStream is ever deleted), so a crash never leaves a hole behind an
 *   acknowledged record.
 *
 * The publisher pipelines: up to `window` publishes await their PubAck at once (one at a time
 * would cap a node at one round trip per change). When one fails (timeout, disconnect, no
 * stream), it stops issuing, lets the others settle, acknowledges the stored prefix, and rewinds
 * to the oldest record not known to be stored; after a backoff it probes with ONE publish and
 * re-opens the window only once that succeeded, so an outage costs one timeout per backoff
 * step rather than `window` of them. Each failed probe doubles the probe's PubAck timeout (up
 * to 8x): a JetStream that answers, only slower than the timeout (an overloaded machine, a
 * leader election), still gets through, instead of being retried forever one timeout short. Records after the failed one that JetStream did store are
 * published again and de-duplicated by their msgID.
 *
 * A record that can never be published (it has no encoding, or exceeds the server's
 * max_payload) must neither stall the outbox nor be retried forever: it is counted as
 * `rejected`, logged, and acknowledged like a published one; anti-entropy repairs the replicas
 * that miss it.
 */
import { InvalidArgumentError, type NatsConnection } from '@nats-io/transport-node';
import { encodeChange, writtenHeaderOf } from './change-codec.js';
import { ReplicationError, describeError } from './errors.js';
import { PubAckPipe, type PublishAck } from './pub-acks.js';
import { type ChangeRecord, type ChangeSource } from './ports.js';
import { type ReplicationSubjects, replicationSubjects } from './subjects.js';
import { Backoff, type BackoffOptions, type ReplicationLogger, positiveInt, safeObserver, silentLogger, waitUntil } from './util.js';

/** Metrics hooks (the replicator module feeds Prometheus through these). All optional. */
export interface PublisherObserver {
  /** JetStream stored `count` changes (duplicates included). */
  onPublished?(count: number): void;
  /** `count` records were deleted from the outbox. */
  onAcknowledged?(count: number): void;
  /** A publish or an outbox acknowledgement failed; it will be retried. */
  onFailure?(err: unknown): void;
  /** A record was given up on (no encoding, too large) and will be acknowledged unpublished. */
  onRejected?(record: ChangeRecord, err: unknown): void;
}

/** One traced publish (see {@link OutboxPublisherOptions.trace}). */
export interface PublishTrace {
  /** W3C trace context, sent as the message's `traceparent` header. */
  readonly traceparent: string;
  /** The publish settled: JetStream stored the change, or the publish failed with `error`. */
  end(error?: unknown): void;
}

export interface OutboxPublisherOptions {
  /** The connection to publish on; the stream must exist (see stream.ts). */
  readonly nc: NatsConnection;
  readonly source: ChangeSource;
  readonly cluster: string;
  /** Publishes awaiting their PubAck at once (default 256). */
  readonly window?: number;
  /** How long to wait for one PubAck (default 5 s). */
  readonly publishTimeoutMs?: number;
  /** Delays between retries after a failure (default 100 ms doubling to 5 s, jittered). */
  readonly backoff?: BackoffOptions;
  /** Starts tracing the publish of a record (undefined: an untraced record, sent without headers). */
  readonly trace?: (record: ChangeRecord) => PublishTrace | undefined;
  readonly observer?: PublisherObserver;
  readonly logger?: ReplicationLogger;
}

export interface PublisherStats {
  /** Changes JetStream acknowledged (including those it reported as duplicates). */
  readonly published: number;
  /** PubAcks that said "duplicate": a retry of a change JetStream already held. */
  readonly duplicates: number;
  /** Records deleted from the outbox. */
  readonly acked: number;
  /** Failed publishes and failed outbox acknowledgements. */
  readonly failures: number;
  /** Records given up on (see the essay above). */
  readonly rejected: number;
  /** Publishes awaiting their PubAck. */
  readonly inFlight: number;
  /** True between a failure and the next successful publish. */
  readonly backingOff: boolean;
  readonly lastError: string | undefined;
  readonly lastErrorAt: number | undefined;
}

interface Slot {
  readonly record: ChangeRecord;
  state: 'pending' | 'ok' | 'failed';
}

export const PUBLISHER_DEFAULTS = { window: 256, publishTimeoutMs: 5_000 } as const;

export class OutboxPublisher {
  readonly #nc: NatsConnection;
  #pipe: PubAckPipe | undefined;
  readonly #source: ChangeSource;
  readonly #subjects: ReplicationSubjects;
  readonly #window: number;
  readonly #timeoutMs: number;
  readonly #trace: OutboxPublisherOptions['trace'];
  readonly #observer: PublisherObserver;
  readonly #logger: ReplicationLogger;
  readonly #backoff: Backoff;
  readonly #ackBackoff: Backoff;

  #running = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #unsubscribe: (() => void) | undefined;
  #pumpQueued = false;
  #pumping = false;

  /** Publishes in flight or settled but not yet folded into the acknowledged prefix, in seq order. */
  #slots: Slot[] = [];
  /** Highest seq handed to a publish; reads continue after it. */
  #cursor = -1n;
  /** Highest seq of the prefix known to be stored (or rejected). */
  #storedThrough = -1n;
  /** A publish of the current round failed: issue nothing until the round has settled. */
  #failed = false;
  /** After a failure, one publish at a time until one succeeds. */
  #probing = false;
  /** The probe's PubAck timeout: doubles per failed probe (up to 8x), so a slow JetStream is not mistaken for a dead one forever. */
  #probeTimeoutMs: number;
  #retryTimer: NodeJS.Timeout | undefined;

  #toAck: bigint[] = [];
  #acking = false;
  #ackRetryTimer: NodeJS.Timeout | undefined;
  #listeners = new Set<() => void>();

  #published = 0;
  #duplicates = 0;
  #acked = 0;
  #failures = 0;
  #rejected = 0;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;

  constructor(options: OutboxPublisherOptions) {
    this.#nc = options.nc;
    this.#source = options.source;
    this.#subjects = replicationSubjects(options.cluster);
    this.#window = positiveInt('window', options.window ?? PUBLISHER_DEFAULTS.window, 65_536);
    this.#timeoutMs = positiveInt('publishTimeoutMs', options.publishTimeoutMs ?? PUBLISHER_DEFAULTS.publishTimeoutMs);
    this.#probeTimeoutMs = this.#timeoutMs;
    this.#trace = options.trace;
    this.#logger = options.logger ?? silentLogger;
    this.#observer = safeObserver(options.observer, this.#logger);
    this.#backoff = new Backoff(options.backoff);
    this.#ackBackoff = new Backoff(options.backoff);
  }

  /** Starts publishing the outbox, from its oldest record, and follows its appends. */
  start(): void {
    if (this.#running) return;
    if (this.#stopping) throw new ReplicationError('STOPPED', 'the publisher was stopped');
    this.#running = true;
    this.#pipe = new PubAckPipe(this.#nc);
    this.#unsubscribe = this.#source.onAppend(() => this.#schedulePump());
    this.#schedulePump();
  }

  /**
   * Stops issuing publishes, waits up to `timeoutMs` for those in flight and for the outbox
   * acknowledgement of what JetStream stored, then detaches. Whatever is still unacknowledged
   * stays in the outbox for the next publisher (after a restart) to publish. Final: a stopped
   * publisher does not start again.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    if (this.#stopped === undefined) {
      this.#stopped = this.#running ? this.#stop(timeoutMs) : Promise.resolve();
      this.#stopping = true;
    }
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await waitUntil(() => this.#settled(), (wake) => this.#listen(wake), timeoutMs);
    this.#running = false;
    this.#pipe?.close();
    clearTimeout(this.#ackRetryTimer);
    this.#ackRetryTimer = undefined;
  }

  get stats(): PublisherStats {
    return {
      published: this.#published,
      duplicates: this.#duplicates,
      acked: this.#acked,
      failures: this.#failures,
      rejected: this.#rejected,
      inFlight: this.#slots.reduce((n, s) => n + (s.state === 'pending' ? 1 : 0), 0),
      backingOff: this.#probing || this.#failed,
      lastError: this.#lastError,
      lastErrorAt: this.#lastErrorAt,
    };
  }

  /** Nothing in flight and nothing waiting for the outbox acknowledgement. */
  #settled(): boolean {
    return !this.#slots.some((s) => s.state === 'pending') && !this.#acking && (this.#toAck.length === 0 || this.#ackRetryTimer !== undefined);
  }

  #listen(wake: () => void): () => void {
    this.#listeners.add(wake);
    return () => this.#listeners.delete(wake);
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }

  #schedulePump(): void {
    // Coalesce the appends of one turn, and never call back into the store from its listener.
    if (this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #pump(): void {
    if (!this.#running || this.#stopping || this.#failed || this.#retryTimer !== undefined || this.#pumping) return;
    this.#pumping = true;
    try {
      const window = this.#probing ? 1 : this.#window;
      while (this.#slots.length < window && !this.#failed) {
        let records: readonly ChangeRecord[];
        try {
          records = this.#source.read(this.#cursor, window - this.#slots.length);
        } catch (err) {
          // The store could not read its outbox (closing, I/O error): try again later.
          this.#error(err);
          this.#retryTimer = setTimeout(() => {
            this.#retryTimer = undefined;
            this.#pump();
          }, this.#backoff.next());
          return;
        }
        if (records.length === 0) return;
        for (const record of records) {
          if (record.seq <= this.#cursor) {
            // A source bug; refusing it keeps the acknowledged prefix meaningful (and the loop finite).
            this.#error(new ReplicationError('BAD_RECORD', `outbox returned seq ${record.seq} after ${this.#cursor}`));
            return;
          }
          this.#send(record);
        }
        // Records rejected synchronously are settled already: fold them to free their places.
        this.#fold();
      }
    } finally {
      this.#pumping = false;
      this.#flushAcks();
    }
  }

  #send(record: ChangeRecord): void {
    const slot: Slot = { record, state: 'pending' };
    this.#slots.push(slot);
    this.#cursor = record.seq;
    let subject: string;
    let data: Uint8Array;
    try {
      subject = this.#subjects.changes(record.shard);
      data = encodeChange(record);
    } catch (err) {
      this.#reject(slot, err);
      return;
    }
    const trace = this.#trace?.(record);
    const written = writtenHeaderOf(record);
    let stored: Promise<PublishAck>;
    try {
      stored = this.#pipe!.publish(subject, data, {
        msgID: `${record.origin}:${record.seq}`,
        timeoutMs: this.#probing ? this.#probeTimeoutMs : this.#timeoutMs,
        ...(trace === undefined ? {} : { traceparent: trace.traceparent }),
        ...(written === undefined ? {} : { written }),
      });
    } catch (err) {
      stored = Promise.reject(err);
    }
    stored.then(
      (ack) => {
        trace?.end();
        this.#onStored(slot, ack.duplicate);
      },
      (err: unknown) => {
        trace?.end(err);
        this.#onFailed(slot, err);
      },
    );
  }

  #onStored(slot: Slot, duplicate: boolean): void {
    slot.state = 'ok';
    this.#published += 1;
    if (duplicate) this.#duplicates += 1;
    this.#probing = false;
    this.#probeTimeoutMs = this.#timeoutMs;
    this.#backoff.reset();
    this.#observer.onPublished?.(1);
    this.#advance();
  }

  #onFailed(slot: Slot, err: unknown): void {
    if (err instanceof InvalidArgumentError) {
      // Refused by the client before sending (e.g. larger than the server's max_payload): no retry can help.
      this.#reject(slot, err);
    } else {
      slot.state = 'failed';
      if (this.#probing) this.#probeTimeoutMs = Math.min(8 * this.#timeoutMs, 2 * this.#probeTimeoutMs);
      this.#failed = true;
      this.#error(err);
    }
    this.#advance();
  }

  #reject(slot: Slot, err: unknown): void {
    slot.state = 'ok';
    this.#rejected += 1;
    const { record } = slot;
    this.#logger.warn('replication: change not published, anti-entropy will repair it', {
      origin: record.origin,
      seq: String(record.seq),
      shard: record.shard,
      error: describeError(err),
    });
    this.#observer.onRejected?.(record, err);
  }

  #error(err: unknown): void {
    this.#failures += 1;
    this.#lastError = describeError(err);
    this.#lastErrorAt = Date.now();
    this.#observer.onFailure?.(err);
  }

  /** Folds the stored prefix into the acknowledgement queue; rewinds once a failed round has settled. */
  #advance(): void {
    this.#fold();
    this.#flushAcks();
    if (this.#failed && !this.#slots.some((s) => s.state === 'pending')) {
      // The head is a failed publish: forget the rest of the round and retry from there.
      this.#slots = [];
      this.#cursor = this.#storedThrough;
      this.#failed = false;
      this.#probing = true;
      if (!this.#stopping) {
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#pump();
        }, this.#backoff.next());
      }
    }
    this.#pump();
    this.#notify();
  }

  /** Moves the settled prefix of the round to the acknowledgement queue. */
  #fold(): void {
    while (this.#slots[0]?.state === 'ok') {
      const seq = this.#slots.shift()!.record.seq;
      this.#toAck.push(seq);
      this.#storedThrough = seq;
    }
  }

  #flushAcks(): void {
    if (!this.#running || this.#acking || this.#ackRetryTimer !== undefined || this.#toAck.length === 0) return;
    const batch = this.#toAck;
    this.#toAck = [];
    this.#acking = true;
    // Through a promise, so that a source throwing synchronously is handled like one rejecting.
    Promise.resolve(batch).then((seqs) => this.#source.acknowledge(seqs)).then(
      () => {
        this.#acking = false;
        this.#acked += batch.length;
        this.#ackBackoff.reset();
        this.#observer.onAcknowledged?.(batch.length);
        this.#flushAcks();
        this.#notify();
      },
      (err: unknown) => {
        this.#acking = false;
        this.#toAck = batch.concat(this.#toAck);
        this.#error(err);
        if (this.#stopping) {
          this.#notify();
          return;
        }
        this.#ackRetryTimer = setTimeout(() => {
          this.#ackRetryTimer = undefined;
          this.#flushAcks();
        }, this.#ackBackoff.next());
        this.#notify();
      },
    );
  }
}
