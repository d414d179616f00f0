/*
 * The publisher and the subscriber end to end, through a real nats-server, between fake nodes
 * (in-memory outbox and sink behind the real ports).
 */
import { eventually, type NatsServer, startNatsServer } from '#testing';
import { CHANGE_FORMAT_VERSION, encodeChange } from './change-codec.js';
import { type ChangeRecord } from './ports.js';
import { OutboxPublisher } from './publisher.js';
import { type ConsumerBacklog } from './subscriber.js';
import { ensureStream } from './stream.js';
import { replicationSubjects } from './subjects.js';
import { FakeOutbox, changeId, entryChange, range, stampOf } from './testing/fakes.js';
import { type FakeNode, fakeNode, traceparentOf } from './testing/node.js';
import { testClient } from './testing/nats.js';

let nats: NatsServer;
let clusters = 0;

/** A fresh replication group (stream) on the shared server, so tests do not see each other. */
async function newCluster(): Promise<string> {
  const cluster = `t${(clusters += 1)}`;
  await using c = await testClient(nats.url);
  await ensureStream(c.jsm, { cluster });
  return cluster;
}

const ids = (records: readonly ChangeRecord[]): string[] => records.map(changeId).sort();

/** The consumer's backlog once the node's acks went out (they leave together, a few ms after their merges). */
async function settledBacklog(node: FakeNode): Promise<ConsumerBacklog> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const backlog = await node.subscriber.backlog();
    if (backlog.ackPending === 0 || Date.now() > deadline) return backlog;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function drained(node: FakeNode, what = node.id): Promise<void> {
  await eventually(
    () => `${what}: outbox depth ${node.outbox.depth}, publisher ${JSON.stringify(node.publisher.stats)}`,
    () => node.outbox.depth === 0 && node.publisher.stats.inFlight === 0,
    15_000,
  );
}

async function received(node: FakeNode, expected: readonly string[], timeoutMs = 15_000): Promise<void> {
  const want = new Set(expected);
  await eventually(
    () => `${node.id} has ${[...want].filter((id) => node.sink.changes.has(id)).length}/${want.size}; ${JSON.stringify(node.subscriber.stats)}`,
    () => [...want].every((id) => node.sink.changes.has(id)),
    timeoutMs,
  );
}

beforeAll(async () => {
  nats = await startNatsServer();
}, 20_000);

afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

describe('OutboxPublisher + ChangeSubscriber', () => {
  it('delivers every change exactly once to the other node, skips own changes, drains the outbox in order', async () => {
    const cluster = await newCluster();
    await using a = await fakeNode('node-a', nats.url, cluster);
    await using b = await fakeNode('node-b', nats.url, cluster);
    const fromA = range(600).map((i) => a.outbox.set(`a${i}`, `v${i}`, i % 16));
    const fromB = [
      ...range(199).map((i) => b.outbox.set(`b${i}`, `w${i}`, i % 7)),
      b.outbox.append((seq) => ({ kind: 'truncate', origin: 'node-b', seq, shard: 5, floor: stampOf('node-b') })),
    ];

    await received(b, ids(fromA));
    await received(a, ids(fromB));
    await drained(a);
    await drained(b);
    await eventually(
      () => `skippedOwn ${a.subscriber.stats.skippedOwn}, ${b.subscriber.stats.skippedOwn}`,
      () => a.subscriber.stats.skippedOwn === 600 && b.subscriber.stats.skippedOwn === 200,
    );

    expect(b.sink.ids()).toEqual(ids(fromA));
    expect(a.sink.ids()).toEqual(ids(fromB));
    expect(a.sink.changes.get(changeId(fromB[199]!))).toEqual(fromB[199]);
    for (const node of [a, b]) {
      expect(node.sink.duplicates).toBe(0);
      expect(node.outbox.outOfOrder).toBe(0);
      expect(node.subscriber.stats).toMatchObject({ garbage: 0, failures: 0 });
    }
    expect(a.publisher.stats).toMatchObject({ published: 600, acked: 600, failures: 0, rejected: 0, inFlight: 0 });
    // Acknowledged in batches, not one call per record.
    expect(a.outbox.batches.length).toBeLessThan(600);
    // Changes keep their content, and trace context travels in the headers.
    const sample = fromA[123]!;
    expect(b.sink.changes.get(changeId(sample))).toMatchObject({ key: 'a123', shard: 123 % 16, seq: sample.seq });
    expect([...fromA].every((r) => b.traces.has(traceparentOf(r)))).toBe(true);
    const backlog = await b.subscriber.backlog();
    expect(backlog).toMatchObject({ pending: 0 });
  }, 30_000);

  it('pipelines at most `window` publishes, and hands up to `concurrency` changes at once to the sink, in stream order', async () => {
    const cluster = await newCluster();
    const seen: { publisher?: OutboxPublisher; maxInFlight: number } = { maxInFlight: 0 };
    await using a = await fakeNode('node-a', nats.url, cluster, {
      publisher: { window: 8, observer: { onPublished: () => (seen.maxInFlight = Math.max(seen.maxInFlight, seen.publisher?.stats.inFlight ?? 0)) } },
    });
    seen.publisher = a.publisher;
    await using b = await fakeNode('node-b', nats.url, cluster, { sinkDelayMs: 3, subscriber: { concurrency: 4 } });
    const records = range(200).map((i) => a.outbox.set(`k${i}`, 'v', i % 8));
    await received(b, ids(records));
    expect(seen.maxInFlight).toBeLessThanOrEqual(7); // 8 in flight, minus the one just stored
    expect(seen.maxInFlight).toBeGreaterThan(1);
    expect(b.sink.maxRunning).toBeLessThanOrEqual(4);
    expect(b.sink.maxRunning).toBeGreaterThan(1);
    // The publisher keeps seq order and JetStream keeps publish order: the sink is called in that order.
    expect(b.sink.order).toEqual(records.map(changeId));
  }, 30_000);

  it('does not store a change twice when it is published again (lost PubAck, outbox replayed)', async () => {
    const cluster = await newCluster();
    const subjects = replicationSubjects(cluster);
    await using a = await fakeNode('node-a', nats.url, cluster);
    await using b = await fakeNode('node-b', nats.url, cluster);
    const records = range(50).map((i) => a.outbox.set(`k${i}`, `v${i}`, i % 4));
    await received(b, ids(records));
    await drained(a);
    const stored = (await a.client.jsm.streams.info(subjects.stream)).state.messages;
    expect(stored).toBe(50);

    // A node that crashed after publishing but before deleting its outbox replays the same records.
    const replay = new FakeOutbox('node-a');
    for (const r of records) replay.append(() => r);
    const again = new OutboxPublisher({ nc: a.client.nc, source: replay, cluster });
    again.start();
    await eventually(() => `replay depth ${replay.depth}`, () => replay.depth === 0);
    await again.stop();
    expect(again.stats).toMatchObject({ published: 50, duplicates: 50, acked: 50 });
    // One raw retry with the same msgID, as after a lost PubAck.
    const ack = await a.client.js.publish(subjects.changes(records[0]!.shard), encodeChange(records[0]!), { msgID: changeId(records[0]!) });
    expect(ack.duplicate).toBe(true);

    expect((await a.client.jsm.streams.info(subjects.stream)).state.messages).toBe(50);
    await eventually(
      () => 'subscriber busy',
      () => b.subscriber.stats.inFlight === 0,
    );
    expect(await settledBacklog(b)).toMatchObject({ pending: 0, ackPending: 0 });
    expect(b.sink.calls).toBe(50);
  }, 30_000);

  it('terms garbage (random bytes, wrong version, truncated, wrong shard), counts it, and keeps applying', async () => {
    const cluster = await newCluster();
    const subjects = replicationSubjects(cluster);
    await using b = await fakeNode('node-b', nats.url, cluster);
    await using raw = await testClient(nats.url);
    const valid = encodeChange(entryChange('node-a', 1n, 3, 'k', 'v'));
    const wrongVersion = Uint8Array.from(valid);
    wrongVersion[0] = CHANGE_FORMAT_VERSION + 1;
    const garbage = [
      Uint8Array.from([0xde, 0xad, 0xbe, 0xef, 1, 2, 3]),
      new Uint8Array(0),
      wrongVersion,
      valid.subarray(0, valid.length - 3),
      Uint8Array.from([...valid, 0]),
    ];
    for (const bytes of garbage) await raw.js.publish(subjects.changes(3), bytes);
    await raw.js.publish(subjects.changes(5), valid); // the record says shard 3
    await raw.js.publish(subjects.changes(3), valid);

    await received(b, ['node-a:1']);
    await eventually(() => JSON.stringify(b.subscriber.stats), () => b.subscriber.stats.garbage === 6);
    expect(b.warnings.filter((w) => w.msg.includes('malformed'))).toHaveLength(6);
    expect(b.warnings[0]?.fields).toMatchObject({ subject: subjects.changes(3) });
    // Termed, not left pending or redelivered.
    expect(await settledBacklog(b)).toEqual({ pending: 0, ackPending: 0, redelivered: 0 });
    expect(b.subscriber.stats).toMatchObject({ applied: 1, failures: 0 });
  }, 30_000);

  it('redelivers a change whose merge failed, and gives up on it at max_deliver', async () => {
    const cluster = await newCluster();
    await using a = await fakeNode('node-a', nats.url, cluster);
    await using b = await fakeNode('node-b', nats.url, cluster, {
      start: false,
      subscriber: { ensureConsumer: { maxDeliver: 4 } },
    });
    const failures = new Map<string, number>();
    b.sink.fail = (r) => {
      const id = changeId(r);
      const n = (failures.get(id) ?? 0) + 1;
      failures.set(id, n);
      const key = r.kind === 'entry' ? r.key : '';
      return key === 'poison' || (key === 'flaky' && n <= 2);
    };
    b.subscriber.start();
    const flaky = a.outbox.set('flaky', '1');
    const poison = a.outbox.set('poison', '2');
    const after = a.outbox.set('after', '3');

    await received(b, [changeId(flaky), changeId(after)]);
    await eventually(() => JSON.stringify(b.subscriber.stats), () => b.subscriber.stats.givenUp === 1);
    expect(failures.get(changeId(flaky))).toBe(3);
    expect(failures.get(changeId(poison))).toBe(4);
    expect(b.sink.changes.has(changeId(poison))).toBe(false);
    expect(b.subscriber.stats).toMatchObject({ failures: 6, givenUp: 1, applied: 2 });
    expect(b.warnings.some((w) => w.msg.includes('giving up') && w.fields?.['deliveries'] === 4)).toBe(true);
    await eventually('the subscriber to finish what it has in flight', () => b.subscriber.stats.inFlight === 0);
    expect(await settledBacklog(b)).toMatchObject({ pending: 0, ackPending: 0 });
  }, 30_000);

  it('recreates its durable consumer when it was deleted, and catches up from the stream', async () => {
    const cluster = await newCluster();
    const { stream } = replicationSubjects(cluster);
    await using a = await fakeNode('node-a', nats.url, cluster);
    await using b = await fakeNode('node-b', nats.url, cluster);
    const before = range(10).map((i) => a.outbox.set(`k${i}`, 'x'));
    await received(b, ids(before));
    expect(await a.client.jsm.consumers.delete(stream, 'node_node-b')).toBe(true);
    const after = range(10).map((i) => a.outbox.set(`j${i}`, 'y'));
    await received(b, ids(after));
    // Deliver-all: the new consumer replayed the stream; merges are idempotent, so that is harmless.
    expect(b.sink.ids()).toEqual(ids([...before, ...after]));
    expect((await a.client.jsm.consumers.info(stream, 'node_node-b')).config.durable_name).toBe('node_node-b');
  }, 30_000);

  it('applies nothing while paused, and everything missed after resume', async () => {
    const cluster = await newCluster();
    await using a = await fakeNode('node-a', nats.url, cluster);
    await using b = await fakeNode('node-b', nats.url, cluster, { sinkDelayMs: 2 });
    const before = range(20).map((i) => a.outbox.set(`before${i}`, 'x', i % 4));
    await received(b, ids(before));

    // Pause in the middle of a stream of changes: pause() returns once no merge is running.
    const during = range(100).map((i) => a.outbox.set(`during${i}`, 'y', i % 4));
    await eventually('more than 20 changes applied on b', () => b.sink.changes.size > 20);
    await b.subscriber.pause();
    expect(b.sink.running).toBe(0);
    const calls = b.sink.calls;
    const later = range(100).map((i) => a.outbox.set(`later${i}`, 'z', i % 4));
    await drained(a);
    // Two full pull periods (1 s each) with the changes in the stream: still nothing applied.
    const until = Date.now() + 2_200;
    await eventually(
      () => 'unreachable',
      () => b.sink.calls !== calls || Date.now() > until,
    );
    expect(b.sink.calls).toBe(calls);
    expect(b.subscriber.stats.paused).toBe(true);

    b.subscriber.resume();
    await received(b, [...ids(before), ...ids(during), ...ids(later)]);
    expect(b.sink.changes.size).toBe(220);
  }, 30_000);

  it('rejects a change larger than max_payload without stalling, retries a failed outbox acknowledgement, survives a throwing observer', async () => {
    const cluster = await newCluster();
    await using a = await fakeNode('node-a', nats.url, cluster, {
      publisher: {
        observer: {
          onPublished: () => {
            throw new Error('a broken metrics hook');
          },
        },
      },
    });
    await using b = await fakeNode('node-b', nats.url, cluster);
    a.outbox.failAcknowledge = 2;
    const first = a.outbox.set('small1', 'x');
    const huge = a.outbox.set('huge', 'h'.repeat(1_100_000));
    const last = a.outbox.set('small2', 'y');
    await received(b, [changeId(first), changeId(last)]);
    await drained(a);
    expect(b.sink.changes.has(changeId(huge))).toBe(false);
    expect(a.publisher.stats).toMatchObject({ rejected: 1, acked: 3 });
    expect(a.publisher.stats.failures).toBeGreaterThanOrEqual(2);
    expect(a.outbox.outOfOrder).toBe(0);
    expect(a.warnings.some((w) => w.msg.includes('not published') && w.fields?.['seq'] === String(huge.seq))).toBe(true);
    expect(a.warnings.some((w) => w.msg.includes('observer hook threw') && w.fields?.['hook'] === 'onPublished')).toBe(true);
  }, 30_000);
});

describe('through a NATS outage', () => {
  it('keeps accepting changes while nats-server is down; after restart everything arrives once and the outbox drains', async () => {
    await using server = await startNatsServer();
    const cluster = 'outage';
    {
      await using c = await testClient(server.url);
      await ensureStream(c.jsm, { cluster });
    }
    await using a = await fakeNode('node-a', server.url, cluster);
    await using b = await fakeNode('node-b', server.url, cluster);
    const first = range(100).map((i) => a.outbox.set(`first${i}`, 'x', i % 8));
    await received(b, ids(first));

    await server.stop();
    const whileDown = [
      ...range(150).map((i) => a.outbox.set(`down${i}`, 'y', i % 8)),
      ...range(50).map((i) => b.outbox.set(`bdown${i}`, 'y', i % 8)),
    ];
    // The publishers notice: publishes time out, they back off and probe.
    await eventually(() => JSON.stringify(a.publisher.stats), () => a.publisher.stats.failures > 0);
    expect(a.outbox.depth).toBe(150);

    await server.restart();
    const after = range(100).map((i) => a.outbox.set(`after${i}`, 'z', i % 8));
    await received(b, ids([...first, ...whileDown.filter((r) => r.origin === 'node-a'), ...after]), 25_000);
    await received(a, ids(whileDown.filter((r) => r.origin === 'node-b')), 25_000);
    await drained(a);
    await drained(b);
    // Nothing applied twice to the state (the sink is idempotent, as merges are), nothing lost.
    expect(b.sink.ids()).toEqual(ids([...first, ...whileDown.filter((r) => r.origin === 'node-a'), ...after]));
    expect(a.outbox.outOfOrder).toBe(0);
    // The stream de-duplicated the retries.
    const info = await a.client.jsm.streams.info(replicationSubjects(cluster).stream);
    expect(info.state.messages).toBe(400);
  }, 45_000);
});
