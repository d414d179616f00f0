/**
 * The floor: raw JetStream on the same nats-server, doing what the nodes' replication does
 * minus everything MerkleKV adds (the TCP protocol, RocksDB commits on both sides, the outbox,
 * the change codec, merges, the watch feed).
 *
 * - A stream of its own, configured like the nodes' change stream (file storage, limits
 *   retention, one subject per shard under a wildcard, 2 min duplicate window, one replica).
 * - One publisher connection: `js.publish` with a message id (the nodes de-duplicate by
 *   `origin:seq` too); the payload is the SET's `bench:<seq> <value>`.
 * - One durable pull consumer per observer (default two, as B and C), each on its own
 *   connection, with the nodes' consumer settings (explicit ack, max_ack_pending 1024,
 *   ack_wait 30 s), pulled the way the nodes pull: bounded fetches of 256 messages with a 5 s
 *   expiry, one after the other (or `consume()`, for comparison), acking every message.
 *
 * Stamps: issue before `js.publish`, acknowledgement when its PubAck resolves, sighting when the
 * consumer's iterator yields the message.
 */
import { AckPolicy, DeliverPolicy, DiscardPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, ReplayPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { nowMs, type WriteTarget } from './drive.js';
import { type SampleBook } from './samples.js';
import { KEY_PREFIX } from './merklekv.js';
import { seqOfKey } from './watch-parser.js';

export type PullMode = 'fetch' | 'consume';

const STREAM = 'BENCH_REF';
const SUBJECT_PREFIX = 'benchref.changes.';
const SHARDS = 16;
const NS_PER_MS = 1_000_000;
const SPACE = 0x20;

/** The sequence number of a payload `bench:<seq> <value>`, or undefined. */
export function seqOfPayload(data: Uint8Array): number | undefined {
  const head = Buffer.from(data.buffer, data.byteOffset, Math.min(data.byteLength, 32));
  const space = head.indexOf(SPACE);
  return seqOfKey(head.toString('latin1', 0, space === -1 ? head.length : space), KEY_PREFIX);
}

export class JetStreamReference implements WriteTarget {
  readonly name = 'jetstream';
  readonly lanes = 1;
  #inFlight = 0;
  #failures = 0;
  #stopped = false;
  readonly #fetches = new Set<ConsumerMessages>();
  readonly #loops: Promise<void>[] = [];

  private constructor(
    readonly book: SampleBook,
    private readonly publisher: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly consumerConnections: readonly NatsConnection[],
    private readonly value: (seq: number) => Buffer,
    private readonly progress: (message: string) => void,
  ) {}

  static async open(options: {
    url: string;
    book: SampleBook;
    pull: PullMode;
    value: (seq: number) => Buffer;
    progress: (message: string) => void;
  }): Promise<JetStreamReference> {
    // The nodes' client settings, so that the reference differs only in what the node adds.
    const publisher = await connect({ servers: options.url, name: 'bench-ref-publisher', noAsyncTraces: true });
    const consumers: NatsConnection[] = [];
    try {
      const jsm = await jetstreamManager(publisher);
      await jsm.streams.add({
        name: STREAM,
        subjects: [`${SUBJECT_PREFIX}>`],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        discard: DiscardPolicy.Old,
        num_replicas: 1,
        max_age: 24 * 3600 * 1000 * NS_PER_MS,
        max_bytes: 1024 * 1024 * 1024,
        duplicate_window: 2 * 60 * 1000 * NS_PER_MS,
      });
      for (let o = 0; o < options.book.observers; o += 1) {
        await jsm.consumers.add(STREAM, {
          durable_name: `ref_${o}`,
          ack_policy: AckPolicy.Explicit,
          deliver_policy: DeliverPolicy.All,
          replay_policy: ReplayPolicy.Instant,
          ack_wait: 30_000 * NS_PER_MS,
          max_ack_pending: 1024,
          max_deliver: 50,
        });
        consumers.push(await connect({ servers: options.url, name: `bench-ref-consumer-${o}`, noAsyncTraces: true }));
      }
    } catch (err) {
      await Promise.all([publisher, ...consumers].map((nc) => nc.close().catch(() => undefined)));
      throw err;
    }
    const ref = new JetStreamReference(options.book, publisher, jetstream(publisher), consumers, options.value, options.progress);
    consumers.forEach((nc, o) => ref.#loops.push(ref.#pull(nc, o, options.pull)));
    return ref;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get failures(): number {
    return this.#failures;
  }

  send(seq: number, _lane: number, done: () => void): void {
    const payload = Buffer.concat([Buffer.from(`${KEY_PREFIX}${seq} `), this.value(seq)]);
    this.#inFlight += 1;
    this.book.issued(seq, nowMs());
    this.js.publish(SUBJECT_PREFIX + String(seq % SHARDS), payload, { msgID: `ref:${seq}` }).then(
      () => {
        this.book.acked(seq, nowMs());
        this.#inFlight -= 1;
        done();
      },
      (err: unknown) => {
        this.#failures += 1;
        if (this.#failures <= 5) this.progress(`jetstream publish ${seq} failed: ${err instanceof Error ? err.message : String(err)}`);
        this.#inFlight -= 1;
        done();
      },
    );
  }

  async close(): Promise<void> {
    this.#stopped = true;
    for (const f of this.#fetches) void f.close();
    await Promise.all(this.#loops);
    await Promise.all([this.publisher, ...this.consumerConnections].map((nc) => nc.close().catch(() => undefined)));
  }

  async #pull(nc: NatsConnection, observer: number, mode: PullMode): Promise<void> {
    const consumer = await jetstream(nc).consumers.get(STREAM, `ref_${observer}`);
    while (!this.#stopped) {
      try {
        const messages = mode === 'fetch' ? await consumer.fetch({ max_messages: 256, expires: 5_000 }) : await consumer.consume({ max_messages: 256 });
        this.#fetches.add(messages);
        try {
          for await (const m of messages) {
            const t = nowMs();
            const seq = seqOfPayload(m.data);
            if (seq !== undefined) this.book.seen(observer, seq, t);
            m.ack();
            if (this.#stopped) break;
          }
        } finally {
          this.#fetches.delete(messages);
        }
      } catch (err) {
        if (this.#stopped) return;
        this.progress(`jetstream consumer ${observer}: ${err instanceof Error ? err.message : String(err)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }
}
