/*
 * The Replicator's policy through a real nats-server, between fake nodes (an in-memory outbox
 * and sink behind the real ports), with the clock and the retry jitter in the test's hands.
 */
import { connect } from '@nats-io/transport-node';
import { PrometheusMetrics } from '#telemetry';
import { eventually, type NatsServer, startNatsServer } from '#testing';
import { Replicator, type ReplicatorOptions } from './replicator.js';
import { FakeOutbox, RecordingSink, changeId, registerEntry } from './testing/fakes.js';

let nats: NatsServer;
let clusters = 0;

beforeAll(async () => {
  nats = await startNatsServer();
}, 20_000);

afterAll(async () => {
  await nats?.[Symbol.asyncDispose]();
});

interface Logged {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string;
}

interface TestNode extends AsyncDisposable {
  readonly replicator: Replicator;
  readonly outbox: FakeOutbox;
  readonly sink: RecordingSink;
  readonly metrics: PrometheusMetrics;
  readonly logged: Logged[];
  /** The replicator's clock (ms); the test moves it. */
  clock: number;
}

/** A node of `cluster` on the shared server; its replicator is started unless `start` is false. */
function testNode(id: string, cluster: string, overrides: Partial<ReplicatorOptions> = {}, start = true): TestNode {
  const outbox = new FakeOutbox(id);
  const sink = new RecordingSink();
  const metrics = new PrometheusMetrics({ defaults: false });
  const logged: Logged[] = [];
  const log = (level: Logged['level']) => (msg: string) => void logged.push({ level, msg });
  const node: TestNode = {
    outbox,
    sink,
    metrics,
    logged,
    clock: 1_000_000,
    replicator: new Replicator({
      cluster,
      nodeId: id,
      version: 'test',
      shards: 16,
      connect: () => connect({ servers: nats.url, name: id }),
      source: outbox,
      sink,
      enabled: true,
      maxValueBytes: 1024,
      announce: () => Promise.resolve({ addresses: { merklekv: `${id}:7379`, http: `${id}:8080` }, startedAt: 0 }),
      roots: () => ({}),
      logger: { info: log('info'), warn: log('warn'), error: log('error') },
      metrics,
      publisher: { publishTimeoutMs: 1_000, backoff: { initialMs: 50, maxMs: 400 } },
      subscriber: { pullExpiresMs: 1_000, backoff: { initialMs: 50, maxMs: 400 } },
      membership: { intervalMs: 100 },
      now: () => node.clock,
      random: () => 0.5,
      ...overrides,
    }),
    async [Symbol.asyncDispose]() {
      await node.replicator.stop();
      await node.replicator.close();
    },
  };
  if (start) node.replicator.start();
  return node;
}

const newCluster = (): string => `r${(clusters += 1)}`;

/** Whether `node`'s membership view has `peer` alive. */
const sees = (node: TestNode, peer: string): boolean => node.replicator.view().peers.some((p) => p.id === peer && p.state === 'alive');

describe('Replicator', () => {
  it('retries the first connection with jittered backoff, warning once, and is unready until connected', async () => {
    let attempts = 0;
    const draws: number[] = [];
    await using node = testNode(
      'a',
      newCluster(),
      {
        connect: () => (++attempts <= 3 ? Promise.reject(new Error('connection refused')) : connect({ servers: nats.url })),
        setupRetry: { initialMs: 10, maxMs: 20 },
        random: () => {
          draws.push(attempts);
          return 0.5;
        },
      },
      false,
    );
    expect(node.replicator.readinessProblem()).toBe('not connected to NATS');
    node.replicator.start();
    expect(await node.replicator.whenStarted()).toBeDefined();
    expect(attempts).toBe(4);
    // One jittered delay after each failed attempt.
    expect(draws).toEqual([1, 2, 3]);
    expect(node.logged.filter((l) => l.msg.startsWith('NATS unreachable'))).toHaveLength(1);
    await eventually(
      () => String(node.replicator.readinessProblem()),
      () => node.replicator.readinessProblem() === undefined,
    );
    expect(node.replicator.view().node.connected).toBe(true);
  });

  it('publishes its outbox and merges the other node’s changes, dated by the injected clock', async () => {
    const cluster = newCluster();
    await using a = testNode('a', cluster);
    await using b = testNode('b', cluster);
    await Promise.all([a.replicator.whenStarted(), b.replicator.whenStarted()]);
    // Written at 1 000 000 by a's clock; merged at 1 001 500 by b's.
    b.clock = 1_001_500;
    const change = a.outbox.append((seq) => ({ kind: 'entry', origin: 'a', seq, shard: 3, key: 'k', entry: registerEntry('a', 'v', 1_000_000) }));
    await eventually(
      () => `b holds ${b.sink.ids().join(',')}; a's outbox ${a.outbox.depth}`,
      () => b.sink.changes.has(changeId(change)) && a.outbox.depth === 0,
    );
    await eventually(
      () => JSON.stringify(b.replicator.view().peers),
      () => sees(b, 'a') && sees(a, 'b'),
    );
    b.clock = 1_001_750;
    const peer = b.replicator.view().peers.find((p) => p.id === 'a')!;
    expect(peer).toMatchObject({ applied: 1, lastAppliedMsAgo: 250, addresses: { merklekv: 'a:7379', http: 'a:8080' } });
    expect(b.replicator.view().node).toMatchObject({ id: 'b', connected: true, replicating: true, applied: 1, outboxDepth: 0 });
    expect(a.replicator.view().node.published).toBe(1);
    expect(b.replicator.liveNodes).toBe(2);
    expect(b.replicator.describe()).toEqual(
      expect.arrayContaining([
        ['role', 'cluster'],
        ['cluster', cluster],
        ['replication', 'enabled'],
        ['replication_applied', '1'],
        ['peers_alive', '1'],
        ['peer_a', 'state=alive,addr=a:7379,outbox=0,applied=1,last_applied_ms=250'],
      ]),
    );
    // The lag is measured from the write's clock to the merge's.
    expect((await b.metrics.exposition()).split('\n')).toContain('merklekv_replication_lag_seconds{peer="a"} 1.5');
  });

  it('REPLICATE disable keeps changes in the outbox; toggles apply in call order; settled once both directions are empty', async () => {
    const cluster = newCluster();
    await using a = testNode('a', cluster);
    await using b = testNode('b', cluster);
    await Promise.all([a.replicator.whenStarted(), b.replicator.whenStarted()]);
    await a.replicator.setReplication(false);
    expect(a.replicator.replicating).toBe(false);
    expect(await a.replicator.settled()).toBe(false);
    const held = a.outbox.set('held', 'v');
    // The publisher is stopped: nothing takes the change out of the outbox.
    expect(a.outbox.depth).toBe(1);
    expect(a.replicator.describe()).toContainEqual(['replication', 'disabled']);
    expect(await a.replicator.settled()).toBe(false);

    void a.replicator.setReplication(true);
    void a.replicator.setReplication(false);
    await a.replicator.setReplication(true);
    expect(a.replicator.replicating).toBe(true);
    await eventually(
      () => `b holds ${b.sink.ids().join(',')}; a's outbox ${a.outbox.depth}`,
      () => b.sink.changes.has(changeId(held)) && a.outbox.depth === 0,
    );
    let settled = false;
    await eventually(
      () => 'a never settled',
      () => {
        void a.replicator.settled().then((s) => (settled = s));
        return settled;
      },
    );
  });

  it('is unready while its outbox is past the limit', async () => {
    await using a = testNode('a', newCluster(), { enabled: false, outboxReadyLimit: 2 });
    await a.replicator.whenStarted();
    await eventually(
      () => String(a.replicator.readinessProblem()),
      () => a.replicator.readinessProblem() === undefined,
    );
    for (const key of ['x', 'y', 'z']) a.outbox.set(key, 'v');
    expect(a.replicator.readinessProblem()).toBe('the outbox holds 3 unpublished changes (limit 2)');
    expect(a.replicator.view().node.replicating).toBe(false);
  });

  it('stopped before NATS answered: never starts, and stops at once', async () => {
    const node = testNode('a', newCluster(), { connect: () => Promise.reject(new Error('connection refused')), setupRetry: { initialMs: 60_000, maxMs: 60_000 } });
    await eventually(
      () => 'no attempt yet',
      () => node.logged.some((l) => l.msg.startsWith('NATS unreachable')),
    );
    await node[Symbol.asyncDispose]();
    expect(await node.replicator.whenStarted()).toBeUndefined();
    expect(node.logged.filter((l) => l.level === 'error')).toEqual([]);
  });
});
