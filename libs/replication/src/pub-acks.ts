/*
 * JetStream publishes with their PubAcks on one subscription
 * ==========================================================
 *
 * A JetStream publish is a core NATS publish with a reply subject; the stream answers on that
 * subject with a PubAck (`{"stream":…,"seq":…,"duplicate":…}` or `{"error":…}`), and the server
 * answers a 503 status itself when nothing listens on the subject (no stream).
 *
 * nats.js's `js.publish()` makes each of those a full request: a mux entry, a timer and an
 * error object (with its captured stack) per message, and a fresh TextDecoder per reply. At a
 * few thousand changes per second that was a tenth of a writing node's CPU, on the thread that
 * also answers clients. Here one wildcard subscription `<inbox>.*` receives every PubAck, a
 * publish is one `nc.publish` and one map entry, and a single sweep timer, running only while
 * something is in flight, fails the publishes that waited too long.
 *
 * Failures keep the shapes the publisher already handles: a payload over the server's
 * max_payload throws nats.js's InvalidArgumentError (never worth retrying); no stream, a
 * JetStream error, a timeout or a closed pipe reject with a ReplicationError
 * `NATS_UNAVAILABLE` (worth retrying).
 */
import { type Msg, type NatsConnection, type Subscription, createInbox, headers } from '@nats-io/transport-node';
import { WRITTEN_HEADER } from './change-codec.js';
import { ReplicationError } from './errors.js';

export interface PublishAck {
  readonly stream: string;
  readonly seq: number;
  /** JetStream already held a message with this msgID (within the stream's duplicate window). */
  readonly duplicate: boolean;
}

export interface PipePublishOptions {
  /** De-duplication id (the `Nats-Msg-Id` header). */
  readonly msgID: string;
  readonly timeoutMs: number;
  /** W3C trace context, sent as the `traceparent` header. */
  readonly traceparent?: string;
  /** The write's clock, sent as the `MerkleKV-Written` header (see `writtenHeaderOf`). */
  readonly written?: string;
}

interface Waiter {
  readonly resolve: (ack: PublishAck) => void;
  readonly reject: (err: unknown) => void;
  readonly deadline: number;
}

const SWEEP_MS = 50;
const utf8 = new TextDecoder();

export class PubAckPipe {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #subscription: Subscription;
  readonly #waiting = new Map<string, Waiter>();
  #next = 0;
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#inbox = createInbox();
    this.#subscription = nc.subscribe(`${this.#inbox}.*`, {
      callback: (err, msg) => {
        if (err) this.close(err);
        else this.#answer(msg);
      },
    });
  }

  /** Publishes `data` on `subject` and resolves with JetStream's PubAck. */
  publish(subject: string, data: Uint8Array, options: PipePublishOptions): Promise<PublishAck> {
    if (this.#closed) return Promise.reject(new ReplicationError('STOPPED', 'the publish pipe is closed'));
    const h = headers();
    h.set('Nats-Msg-Id', options.msgID);
    if (options.traceparent !== undefined) h.set('traceparent', options.traceparent);
    if (options.written !== undefined) h.set(WRITTEN_HEADER, options.written);
    const token = (this.#next++).toString(36);
    // Throws synchronously (InvalidArgumentError) when the message exceeds max_payload.
    this.#nc.publish(subject, data, { reply: `${this.#inbox}.${token}`, headers: h });
    return new Promise((resolve, reject) => {
      this.#waiting.set(token, { resolve, reject, deadline: performance.now() + options.timeoutMs });
      this.#sweeper ??= setInterval(() => this.#sweep(), SWEEP_MS).unref();
    });
  }

  /** Publishes awaiting their PubAck. */
  get inFlight(): number {
    return this.#waiting.size;
  }

  /** Rejects whatever is in flight and stops listening. Final. */
  close(cause?: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#subscription.unsubscribe();
    this.#failAll(new ReplicationError('NATS_UNAVAILABLE', 'the PubAck subscription closed', { cause }));
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#inbox.length + 1);
    const waiter = this.#waiting.get(token);
    if (waiter === undefined) return; // timed out already: its publish is being retried
    this.#waiting.delete(token);
    this.#stopSweepingWhenIdle();
    if (msg.headers?.hasError) {
      const status = msg.headers.code === 503 ? 'no stream listens on the subject (no responders)' : msg.headers.status;
      waiter.reject(new ReplicationError('NATS_UNAVAILABLE', `JetStream publish failed: ${status}`));
      return;
    }
    try {
      waiter.resolve(parsePubAck(msg.data));
    } catch (err) {
      waiter.reject(err);
    }
  }

  #sweep(): void {
    const now = performance.now();
    for (const [token, waiter] of this.#waiting) {
      if (waiter.deadline > now) continue;
      this.#waiting.delete(token);
      waiter.reject(new ReplicationError('NATS_UNAVAILABLE', 'JetStream did not acknowledge a publish in time (timeout)'));
    }
    this.#stopSweepingWhenIdle();
  }

  #stopSweepingWhenIdle(): void {
    if (this.#waiting.size > 0 || this.#sweeper === undefined) return;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  #failAll(err: ReplicationError): void {
    const waiters = [...this.#waiting.values()];
    this.#waiting.clear();
    this.#stopSweepingWhenIdle();
    for (const waiter of waiters) waiter.reject(err);
  }
}

/** A PubAck's JSON, or the JetStream error it carries. */
export function parsePubAck(data: Uint8Array): PublishAck {
  let body: unknown;
  try {
    body = JSON.parse(utf8.decode(data));
  } catch {
    throw new ReplicationError('NATS_UNAVAILABLE', 'JetStream answered a publish with something that is not JSON');
  }
  if (typeof body !== 'object' || body === null) throw new ReplicationError('NATS_UNAVAILABLE', 'JetStream answered a publish with a non-object');
  const o = body as Record<string, unknown>;
  const error = o['error'];
  if (typeof error === 'object' && error !== null) {
    const e = error as Record<string, unknown>;
    throw new ReplicationError('NATS_UNAVAILABLE', `JetStream refused a publish: ${String(e['description'] ?? 'unknown error')} (${String(e['err_code'] ?? e['code'] ?? '?')})`);
  }
  const stream = o['stream'];
  const seq = o['seq'];
  if (typeof stream !== 'string' || stream === '' || typeof seq !== 'number') {
    throw new ReplicationError('NATS_UNAVAILABLE', 'JetStream answered a publish without a stream and sequence');
  }
  return { stream, seq, duplicate: o['duplicate'] === true };
}
