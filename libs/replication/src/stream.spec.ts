import { AckPolicy, DeliverPolicy, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { type NatsServer, startNatsServer } from '#testing';
import { ReplicationError } from './errors.js';
import { ensureConsumer, ensureStream } from './stream.js';
import { testClient } from './testing/nats.js';

const NS = 1_000_000;

describe('ensureStream / ensureConsumer (nats-server 2.9)', () => {
  let nats: NatsServer;
  beforeAll(async () => {
    nats = await startNatsServer();
  }, 20_000);
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });

  it('creates the stream with the defaults, leaves it alone when it matches, and updates its limits', async () => {
    await using c = await testClient(nats.url);
    const created = await ensureStream(c.jsm, { cluster: 'defaults' });
    expect(created.config).toMatchObject({
      name: 'MERKLEKV_defaults',
      subjects: ['merklekv.defaults.changes.>'],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      num_replicas: 1,
      max_age: 24 * 3600 * 1000 * NS,
      max_bytes: 1024 ** 3,
      duplicate_window: 120_000 * NS,
      discard: 'old',
    });
    const again = await ensureStream(c.jsm, { cluster: 'defaults' });
    expect(again.created).toBe(created.created);
    const updated = await ensureStream(c.jsm, { cluster: 'defaults', maxAgeMs: 3_600_000, maxBytes: 1 << 20, duplicateWindowMs: 30_000 });
    expect(updated.config).toMatchObject({ max_age: 3_600_000 * NS, max_bytes: 1 << 20, duplicate_window: 30_000 * NS });
    expect((await c.jsm.streams.info('MERKLEKV_defaults')).config.max_bytes).toBe(1 << 20);
  }, 20_000);

  it('refuses a stream of the same name with memory storage, and bad options', async () => {
    await using c = await testClient(nats.url);
    await c.jsm.streams.add({ name: 'MERKLEKV_mem', subjects: ['merklekv.mem.changes.>'], storage: StorageType.Memory });
    await expect(ensureStream(c.jsm, { cluster: 'mem' })).rejects.toMatchObject({ code: 'STREAM_CONFLICT' });
    await expect(ensureStream(c.jsm, { cluster: 'a.b' })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
    await expect(ensureStream(c.jsm, { cluster: 'x', replicas: 2 as 1 })).rejects.toMatchObject({ code: 'BAD_OPTIONS' });
    await expect(ensureStream(c.jsm, { cluster: 'x', maxAgeMs: 0 })).rejects.toBeInstanceOf(ReplicationError);
    // An R3 stream on a single server: JetStream refuses it.
    await expect(ensureStream(c.jsm, { cluster: 'r3', replicas: 3 })).rejects.toBeInstanceOf(ReplicationError);
  }, 20_000);

  it('creates a durable explicit-ack pull consumer delivering everything, and updates its limits', async () => {
    await using c = await testClient(nats.url);
    await ensureStream(c.jsm, { cluster: 'cons' });
    await c.js.publish('merklekv.cons.changes.0', new Uint8Array([1]));
    const info = await ensureConsumer(c.jsm, { cluster: 'cons', nodeId: 'n1' });
    expect(info.name).toBe('node_n1');
    expect(info.config).toMatchObject({
      durable_name: 'node_n1',
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1024,
      ack_wait: 30_000 * NS,
      max_deliver: 50,
    });
    expect(info.config.deliver_subject).toBeUndefined();
    expect(info.num_pending).toBe(1); // a new node replays what the stream holds
    const same = await ensureConsumer(c.jsm, { cluster: 'cons', nodeId: 'n1' });
    expect(same.created).toBe(info.created);
    const updated = await ensureConsumer(c.jsm, { cluster: 'cons', nodeId: 'n1', maxAckPending: 64, ackWaitMs: 10_000, maxDeliver: 5 });
    expect(updated.config).toMatchObject({ max_ack_pending: 64, ack_wait: 10_000 * NS, max_deliver: 5, deliver_policy: DeliverPolicy.All });
    await expect(ensureConsumer(c.jsm, { cluster: 'nostream', nodeId: 'n1' })).rejects.toBeInstanceOf(ReplicationError);
  }, 20_000);

  it('reports NATS_UNAVAILABLE when JetStream does not answer', async () => {
    await using server = await startNatsServer();
    await using c = await testClient(server.url);
    await server.stop();
    await expect(ensureStream(c.jsm, { cluster: 'down' })).rejects.toMatchObject({ code: 'NATS_UNAVAILABLE' });
  }, 20_000);
});
