/*
 * Applying other nodes' changes
 * =============================
 *
 * Each node reads the whole change stream through its own durable pull consumer `node_<id>`
 * (see stream.ts), so its position survives restarts of the node and of NATS, and a node that
 * was away resumes where it stopped (or, past the stream's retention, is healed by
 * anti-entropy).
 *
 * Per message: decode strictly; garbage (undecodable, or a shard that disagrees with the
 * subject) is counted, logged and `term()`ed, so it is never redelivered and never blocks what
 * follows; our own changes are acked and skipped once their head names us (a node reads back
 * every change it publishes: decoding their entries would be work for nothing); anything else
 * is merged (`sink.apply`) and acked once the merge is durable. A failed merge is `nak()`ed
 * with a delay growing with the delivery count, and given up on (term, logged) at the
 * consumer's `max_deliver`: a change that can never merge must not hold one of the consumer's
 * `max_ack_pending` places forever, and anti-entropy repairs what the hot path missed.
 *
 * Messages are pulled with bounded fetches (`batch` messages or `pullExpiresMs`, whichever
 * comes first) rather than with an endless consume(): an abandoned pull request keeps
 * delivering into a closed inbox until it expires, and each message delivered that way waits
 * for the consumer's ack_wait (30 s) before it is redelivered. With bounded fetches, pause()
 * simply lets the current fetch run out and `nak()`s (no delay) whatever it still brings, so
 * resume() gets those messages back at once. Any fetch error (NATS restarting, the consumer
 * missing, a leader election) ends the fetch; the loop backs off and pulls again, recreating the
 * consumer if it is gone.
 *
 * Concurrency: up to `concurrency` changes are handed to the sink at once, in stream order, so
 * that the store's group commit writes a whole delivery burst at once instead of paying one
 * commit per change. Merges are commutative, so order does not matter for the result; a sink
 * that keeps its calls' order per shard (the store's shard mailboxes do) still applies each
 * shard's changes in stream order. One chain of merges per shard, as this once was, allowed one
 * merge per shard per commit group: at full speed a replica then fell seconds behind its writer
 * while using less than half a core.
 */
import { type Consumer, type ConsumerMessages, type JetStreamClient, type JsMsg } from '@nats-io/jetstream';
import { WRITTEN_HEADER, decodeChangeHead, decodeChangePayload, parseWrittenHeader, undatedByEntry } from './change-codec.js';
import { ReplicationError, describeError, isReplicationError } from './errors.js';
import { API_CODES, isApiError, natsFailure } from './nats-errors.js';
import { type ChangeRecord, type ChangeSink } from './ports.js';
import { type EnsureConsumerOptions, ensureConsumer } from './stream.js';
import { type ReplicationSubjects, assertName, consumerName, replicationSubjects } from './subjects.js';
import { Backoff, type BackoffOptions, type ReplicationLogger, Sleeper, positiveInt, safeObserver, silentLogger, waitUntil } from './util.js';

export interface SubscriberObserver {
  onApplied?(record: ChangeRecord): void;
  /** This node's own change, read back from the stream: only its head was decoded. */
  onSkippedOwn?(change: Pick<ChangeRecord, 'kind' | 'origin' | 'seq' | 'shard'>): void;
  onGarbage?(err: ReplicationError): void;
  /** A merge failed (the message is redelivered later) or pulling failed (retried). */
  onFailure?(err: unknown): void;
}

export interface ChangeSubscriberOptions {
  readonly js: JetStreamClient;
  readonly cluster: string;
  readonly nodeId: string;
  readonly sink: ChangeSink;
  /** The cluster's shard count: changes for a shard at or above it are garbage (default 4096). */
  readonly shards?: number;
  /** Changes handed to the sink at once, in stream order (default 256, one pull's worth). */
  readonly concurrency?: number;
  /** Messages per pull (default 256). */
  readonly batch?: number;
  /** How long a pull waits for messages (default 5 s, at least 1 s). */
  readonly pullExpiresMs?: number;
  /** Redelivery delay after a failed merge: `initialMs` doubling per delivery up to `maxMs` (default 500 ms to 30 s). */
  readonly nakDelay?: { readonly initialMs?: number; readonly maxMs?: number };
  /** Delays before pulling again after a failure (default 100 ms doubling to 5 s). */
  readonly backoff?: BackoffOptions;
  /**
   * Consumer limits used when the consumer has to be (re)created; `false`: never create it
   * (it must exist). Default: create it with the defaults of ensureConsumer.
   */
  readonly ensureConsumer?: Omit<EnsureConsumerOptions, 'cluster' | 'nodeId'> | false;
  /** Runs the merge of `record` inside the trace context of its message's `traceparent` header, when it has one. */
  readonly traced?: (traceparent: string, record: ChangeRecord, run: () => Promise<void>) => Promise<void>;
  readonly observer?: SubscriberObserver;
  readonly logger?: ReplicationLogger;
}

export interface SubscriberStats {
  readonly applied: number;
  readonly skippedOwn: number;
  /** Malformed messages, termed. */
  readonly garbage: number;
  /** Failed merges (each nak'ed or given up on). */
  readonly failures: number;
  /** Changes given up on after max_deliver failed merges. */
  readonly givenUp: number;
  /** Failed pulls (NATS unavailable, consumer missing...). */
  readonly pullErrors: number;
  readonly inFlight: number;
  readonly paused: boolean;
  readonly lastAppliedAt: number | undefined;
  readonly lastError: string | undefined;
}

export interface ConsumerBacklog {
  /** Messages in the stream this node has not been delivered yet. */
  readonly pending: number;
  /** Delivered, not acknowledged yet. */
  readonly ackPending: number;
  readonly redelivered: number;
}

/** How long an ack may wait for others to share its write, and how many may wait (see #ack). */
const ACK_FLUSH_DELAY_MS = 5;
const ACK_FLUSH_COUNT = 128;

/** Beyond a fetch's expiry, so that a held-back message cannot come back into the same fetch. */
const HOLD_BACK_MARGIN_MS = 500;

export const SUBSCRIBER_DEFAULTS = {
  concurrency: 256,
  batch: 256,
  pullExpiresMs: 5_000,
  nakInitialMs: 500,
  nakMaxMs: 30_000,
} as const;

export class ChangeSubscriber {
  readonly #js: JetStreamClient;
  readonly #subjects: ReplicationSubjects;
  readonly #nodeId: string;
  readonly #consumerName: string;
  readonly #sink: ChangeSink;
  readonly #shards: number;
  readonly #concurrency: number;
  readonly #batch: number;
  readonly #expiresMs: number;
  readonly #nakInitialMs: number;
  readonly #nakMaxMs: number;
  readonly #ensure: Omit<EnsureConsumerOptions, 'cluster' | 'nodeId'> | false;
  readonly #traced: ChangeSubscriberOptions['traced'];
  readonly #observer: SubscriberObserver;
  readonly #logger: ReplicationLogger;
  readonly #backoff: Backoff;
  readonly #sleeper = new Sleeper();

  #started = false;
  #stopped = false;
  #stopping: Promise<void> | undefined;
  #paused = false;
  #resumeGate: { promise: Promise<void>; open: () => void } | undefined;
  #loop: Promise<void> | undefined;
  #consumer: Consumer | undefined;
  #maxDeliver = -1;
  #fetch: ConsumerMessages | undefined;

  #active = 0;
  #acks: JsMsg[] = [];
  #ackFlush: NodeJS.Timeout | undefined;
  readonly #listeners = new Set<() => void>();

  #applied = 0;
  #skippedOwn = 0;
  #garbage = 0;
  #failures = 0;
  #givenUp = 0;
  #pullErrors = 0;
  #lastAppliedAt: number | undefined;
  #lastError: string | undefined;

  constructor(options: ChangeSubscriberOptions) {
    this.#js = options.js;
    this.#subjects = replicationSubjects(options.cluster);
    assertName('node id', options.nodeId);
    this.#nodeId = options.nodeId;
    this.#consumerName = consumerName(options.nodeId);
    this.#sink = options.sink;
    this.#shards = positiveInt('shards', options.shards ?? 4096, 4096);
    this.#concurrency = positiveInt('concurrency', options.concurrency ?? SUBSCRIBER_DEFAULTS.concurrency, 4096);
    this.#batch = positiveInt('batch', options.batch ?? SUBSCRIBER_DEFAULTS.batch, 10_000);
    this.#expiresMs = positiveInt('pullExpiresMs', options.pullExpiresMs ?? SUBSCRIBER_DEFAULTS.pullExpiresMs);
    if (this.#expiresMs < 1000) throw new ReplicationError('BAD_OPTIONS', `pullExpiresMs must be at least 1000, got ${this.#expiresMs}`);
    this.#nakInitialMs = positiveInt('nakDelay.initialMs', options.nakDelay?.initialMs ?? SUBSCRIBER_DEFAULTS.nakInitialMs);
    this.#nakMaxMs = positiveInt('nakDelay.maxMs', options.nakDelay?.maxMs ?? SUBSCRIBER_DEFAULTS.nakMaxMs);
    this.#ensure = options.ensureConsumer ?? {};
    this.#traced = options.traced;
    this.#logger = options.logger ?? silentLogger;
    this.#observer = safeObserver(options.observer, this.#logger);
    this.#backoff = new Backoff(options.backoff);
  }

  /** Starts pulling in the background; NATS being unavailable is retried, not thrown. */
  start(): void {
    if (this.#stopped) throw new ReplicationError('STOPPED', 'the subscriber was stopped');
    if (this.#started) return;
    this.#started = true;
    this.#loop = this.#run();
  }

  /**
   * Stops applying remote changes: resolves once no merge is running, and none starts until
   * resume(). Deliveries still arriving are nak'ed for immediate redelivery after resume.
   */
  async pause(): Promise<void> {
    if (this.#paused) return this.#drained();
    this.#paused = true;
    let open!: () => void;
    const promise = new Promise<void>((resolve) => (open = resolve));
    this.#resumeGate = { promise, open };
    await this.#drained();
  }

  /** Applies remote changes again, from the durable consumer's position: nothing is missed. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#resumeGate?.open();
    this.#resumeGate = undefined;
    this.#sleeper.cancel();
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * Stops pulling, waits up to `timeoutMs` for running merges (their messages are acked as
   * usual), and returns. Messages delivered but not applied are redelivered by JetStream (after
   * the consumer's ack_wait) to whoever pulls next, e.g. this node after a restart. Final.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopping ??= this.#stop(timeoutMs);
    return this.#stopping;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    this.#resumeGate?.open();
    this.#sleeper.cancel();
    void this.#fetch?.close();
    const deadline = Date.now() + timeoutMs;
    await waitUntil(() => this.#active === 0, (wake) => this.#listen(wake), timeoutMs);
    if (this.#loop !== undefined) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))));
      await Promise.race([this.#loop, timeout]);
      clearTimeout(timer);
    }
    this.#flushAcks();
  }

  get stats(): SubscriberStats {
    return {
      applied: this.#applied,
      skippedOwn: this.#skippedOwn,
      garbage: this.#garbage,
      failures: this.#failures,
      givenUp: this.#givenUp,
      pullErrors: this.#pullErrors,
      inFlight: this.#active,
      paused: this.#paused,
      lastAppliedAt: this.#lastAppliedAt,
      lastError: this.#lastError,
    };
  }

  /** The consumer's backlog, asked from JetStream (throws NATS_UNAVAILABLE when it cannot answer). */
  async backlog(): Promise<ConsumerBacklog> {
    try {
      const jsm = await this.#js.jetstreamManager();
      const info = await jsm.consumers.info(this.#subjects.stream, this.#consumerName);
      return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
    } catch (err) {
      throw natsFailure(`reading consumer ${this.#consumerName}`, err);
    }
  }

  // -------------------------------------------------------------------------------------------
  // The pull loop

  async #run(): Promise<void> {
    while (!this.#stopped) {
      if (this.#paused) {
        await this.#resumeGate?.promise;
        continue;
      }
      try {
        const consumer = await this.#getConsumer();
        if (this.#stopped || this.#paused) continue;
        const began = Date.now();
        let received = 0;
        const messages = await consumer.fetch({ max_messages: this.#batch, expires: this.#expiresMs });
        this.#fetch = messages;
        if (this.#stopped) void messages.close();
        // A fetch ends by itself (batch full, expiry, missed heartbeats); this is a last resort.
        const watchdog = setTimeout(() => void messages.close(), 3 * this.#expiresMs + 5_000);
        try {
          for await (const m of messages) {
            received += 1;
            await this.#dispatch(m);
          }
        } finally {
          clearTimeout(watchdog);
          this.#fetch = undefined;
        }
        if (received === 0 && Date.now() - began < 100 && !this.#stopped && !this.#paused) {
          // An empty pull that ended at once is a refusal in disguise: do not spin on it.
          await this.#sleeper.sleep(this.#backoff.next());
        } else {
          this.#backoff.reset();
        }
      } catch (err) {
        if (this.#stopped) break;
        this.#pullErrors += 1;
        this.#lastError = describeError(err);
        this.#observer.onFailure?.(err);
        // Look the consumer up again (and recreate it if it was deleted) before the next pull.
        this.#consumer = undefined;
        await this.#sleeper.sleep(this.#backoff.next());
      }
    }
  }

  async #getConsumer(): Promise<Consumer> {
    if (this.#consumer !== undefined) return this.#consumer;
    let consumer: Consumer;
    try {
      consumer = await this.#js.consumers.get(this.#subjects.stream, this.#consumerName);
    } catch (err) {
      if (this.#ensure === false || !isApiError(err, API_CODES.consumerNotFound)) throw err;
      const jsm = await this.#js.jetstreamManager();
      await ensureConsumer(jsm, { ...this.#ensure, cluster: this.#subjects.cluster, nodeId: this.#nodeId });
      consumer = await this.#js.consumers.get(this.#subjects.stream, this.#consumerName);
    }
    const info = await consumer.info(true);
    this.#maxDeliver = info.config.max_deliver ?? -1;
    this.#consumer = consumer;
    return consumer;
  }

  // -------------------------------------------------------------------------------------------
  // Per message

  /**
   * A delivery that arrived while paused or stopping goes back to the stream. An immediate nak
   * would come straight back into the fetch still open, again and again until max_deliver made
   * JetStream give the change up for this node; delayed past the fetch's expiry, it costs one
   * delivery and returns on the first pull after resume.
   */
  #holdBack(m: JsMsg): void {
    m.nak(this.#expiresMs + HOLD_BACK_MARGIN_MS);
  }

  async #dispatch(m: JsMsg): Promise<void> {
    while (this.#active >= this.#concurrency && !this.#paused && !this.#stopped) {
      await new Promise<void>((resolve) => {
        const off = this.#listen(() => {
          off();
          resolve();
        });
      });
    }
    if (this.#paused || this.#stopped) {
      this.#holdBack(m);
      return;
    }
    this.#active += 1;
    void this.#process(m).then(() => {
      this.#active -= 1;
      this.#notify();
    });
  }

  /** Never rejects. */
  async #process(m: JsMsg): Promise<void> {
    if (this.#paused || this.#stopped) {
      this.#holdBack(m);
      return;
    }
    let record: ChangeRecord;
    try {
      const head = decodeChangeHead(m.data, { shards: this.#shards });
      const shard = this.#subjects.shardOf(m.subject);
      if (shard !== head.shard) {
        throw new ReplicationError('BAD_MESSAGE', `malformed change: shard ${head.shard} published on subject ${m.subject}`);
      }
      if (head.origin === this.#nodeId) {
        this.#skippedOwn += 1;
        this.#observer.onSkippedOwn?.(head);
        this.#ack(m);
        return;
      }
      record = decodeChangePayload(m.data, head);
      if (record.kind === 'entry' && undatedByEntry(record)) {
        const written = parseWrittenHeader(m.headers?.get(WRITTEN_HEADER));
        if (written !== undefined) record = { ...record, written };
      }
    } catch (err) {
      const bad = isReplicationError(err, 'BAD_MESSAGE') ? err : new ReplicationError('BAD_MESSAGE', describeError(err), { cause: err });
      this.#garbage += 1;
      this.#logger.warn('replication: dropped a malformed change', {
        subject: m.subject,
        streamSeq: m.seq,
        bytes: m.data.length,
        error: bad.message,
      });
      this.#observer.onGarbage?.(bad);
      m.term();
      return;
    }
    try {
      // Parsing a message's headers costs more than decoding its change: only tracing reads them.
      const traceparent = this.#traced === undefined ? undefined : m.headers?.get('traceparent');
      if (this.#traced !== undefined && traceparent !== undefined && traceparent !== '') {
        await this.#traced(traceparent, record, () => this.#sink.apply(record));
      } else {
        await this.#sink.apply(record);
      }
    } catch (err) {
      this.#failures += 1;
      this.#lastError = describeError(err);
      this.#observer.onFailure?.(err);
      const deliveries = m.info.deliveryCount;
      if (this.#maxDeliver > 0 && deliveries >= this.#maxDeliver) {
        this.#givenUp += 1;
        this.#logger.warn('replication: giving up on a change after repeated merge failures; anti-entropy will repair it', {
          origin: record.origin,
          seq: String(record.seq),
          shard: record.shard,
          deliveries,
          error: this.#lastError,
        });
        m.term();
      } else {
        m.nak(Math.min(this.#nakMaxMs, this.#nakInitialMs * 2 ** Math.min(30, deliveries - 1)));
      }
      return;
    }
    this.#ack(m);
    this.#applied += 1;
    this.#lastAppliedAt = Date.now();
    this.#observer.onApplied?.(record);
  }

  /**
   * Acks leave together, at most {@link ACK_FLUSH_DELAY_MS} after the first of them or once
   * {@link ACK_FLUSH_COUNT} are waiting: each flush is one write to the NATS socket, and one
   * read for nats-server. At a steady rate merges finish one turn of the event loop apart, so a
   * flush per turn was still a write per ack, a large part of what a replica spent per change
   * (and so of the CPU every process on the machine competes for). A late ack costs nothing but
   * a place in `max_ack_pending`, far below its bound, and ack_wait is seconds away.
   */
  #ack(m: JsMsg): void {
    this.#acks.push(m);
    if (this.#acks.length >= ACK_FLUSH_COUNT) this.#flushAcks();
    else this.#ackFlush ??= setTimeout(() => this.#flushAcks(), ACK_FLUSH_DELAY_MS);
  }

  #flushAcks(): void {
    clearTimeout(this.#ackFlush);
    this.#ackFlush = undefined;
    const acks = this.#acks;
    this.#acks = [];
    for (const m of acks) {
      try {
        m.ack();
      } catch {
        // The connection closed: JetStream redelivers the change after ack_wait, and merging it again changes nothing.
      }
    }
  }

  #drained(): Promise<void> {
    return waitUntil(() => this.#active === 0, (wake) => this.#listen(wake), 2 ** 31 - 1).then(() => undefined);
  }

  #listen(wake: () => void): () => void {
    this.#listeners.add(wake);
    return () => this.#listeners.delete(wake);
  }

  #notify(): void {
    for (const l of [...this.#listeners]) l();
  }
}
