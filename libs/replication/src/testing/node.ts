/*
 * Test support: a fake node = a NATS client, an in-memory outbox and sink, and the real
 * publisher and subscriber between them, with settings that make outages short.
 */
import { type ChangeRecord } from '../ports.js';
import { OutboxPublisher, type OutboxPublisherOptions } from '../publisher.js';
import { ChangeSubscriber, type ChangeSubscriberOptions } from '../subscriber.js';
import { FakeOutbox, RecordingSink } from './fakes.js';
import { type TestClient, testClient } from './nats.js';

export interface Warning {
  readonly msg: string;
  readonly fields: Readonly<Record<string, unknown>> | undefined;
}

export interface FakeNode extends AsyncDisposable {
  readonly id: string;
  readonly client: TestClient;
  readonly outbox: FakeOutbox;
  readonly sink: RecordingSink;
  readonly publisher: OutboxPublisher;
  readonly subscriber: ChangeSubscriber;
  readonly warnings: Warning[];
  /** Traceparent headers the subscriber saw. */
  readonly traces: Set<string>;
}

export interface FakeNodeOptions {
  readonly sinkDelayMs?: number;
  readonly publisher?: Partial<OutboxPublisherOptions>;
  readonly subscriber?: Partial<ChangeSubscriberOptions>;
  /** Start the publisher and subscriber (default true). */
  readonly start?: boolean;
}

export const traceparentOf = (r: ChangeRecord): string =>
  `00-${r.origin.padEnd(32, '0').slice(0, 32).replace(/[^0-9a-f]/g, 'a')}-${r.seq.toString(16).padStart(16, '0')}-01`;

export async function fakeNode(id: string, servers: string | readonly string[], cluster: string, options: FakeNodeOptions = {}): Promise<FakeNode> {
  const client = await testClient(servers, id);
  const outbox = new FakeOutbox(id);
  const sink = new RecordingSink(options.sinkDelayMs ?? 0);
  const warnings: Warning[] = [];
  const traces = new Set<string>();
  const logger = { warn: (msg: string, fields?: Readonly<Record<string, unknown>>) => void warnings.push({ msg, fields }) };
  const publisher = new OutboxPublisher({
    nc: client.nc,
    source: outbox,
    cluster,
    publishTimeoutMs: 1_000,
    backoff: { initialMs: 50, maxMs: 400 },
    trace: (record) => ({ traceparent: traceparentOf(record), end: () => undefined }),
    logger,
    ...options.publisher,
  });
  const subscriber = new ChangeSubscriber({
    js: client.js,
    cluster,
    nodeId: id,
    sink,
    pullExpiresMs: 1_000,
    backoff: { initialMs: 50, maxMs: 400 },
    nakDelay: { initialMs: 50, maxMs: 200 },
    logger,
    traced: async (traceparent, _record, run) => {
      traces.add(traceparent);
      await run();
    },
    ...options.subscriber,
  });
  if (options.start ?? true) {
    publisher.start();
    subscriber.start();
  }
  return {
    id,
    client,
    outbox,
    sink,
    publisher,
    subscriber,
    warnings,
    traces,
    async [Symbol.asyncDispose]() {
      await publisher.stop(1_000);
      await subscriber.stop(1_000);
      await client[Symbol.asyncDispose]();
    },
  };
}
