import { mkdirSync, rmSync } from 'node:fs';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeReply, encodeRequest, type Reply } from '#anti-entropy';
import { eventually, type NatsServer, startNatsServer, startNode, TextClient } from '#testing';
import { RocksDbEngine, shardOf } from '#store';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

const STREAM = 'MERKLEKV_merkle_kv';
const DEADLINE_MS = 60_000;
/** Rounds only on demand (POST /v1/cluster/anti-entropy); the node still answers its peers' sessions. */
const ON_DEMAND = ['--anti-entropy=false'];

interface SessionRecord {
  peer: string;
  result: string;
  keysRepaired: number;
  keysPulled: number;
  keysPushed: number;
  bytesSent: number;
  bytesReceived: number;
  roundTrips: number;
}

/** One anti-entropy round now, initiated by `node` with `peer`. */
async function round(node: ClusterNode, peer: string): Promise<SessionRecord> {
  const response = await fetch(`http://127.0.0.1:${node.process.ports.http}/v1/cluster/anti-entropy?peer=${peer}`, { method: 'POST' });
  const body = (await response.json()) as { session: SessionRecord };
  expect(response.status).toBe(200);
  return body.session;
}

/** What decides that two stores are identical: the reference HASH over values, and the MST roots over everything. */
async function fingerprint(node: ClusterNode): Promise<string> {
  return `${await node.send('HASH')} ${(await node.info()).get('mst_roots_digest')}`;
}

async function converged(nodes: readonly ClusterNode[]): Promise<boolean> {
  const prints = await Promise.all(nodes.map(fingerprint));
  return new Set(prints).size === 1;
}

async function seeEachOther(nodes: readonly ClusterNode[]): Promise<void> {
  await eventually('every node to see the others alive', async () =>
    (await Promise.all(nodes.map((n) => n.info()))).every((i) => i.get('peers_alive') === String(nodes.length - 1)),
  );
}

async function purgeStream(nc: NatsConnection): Promise<void> {
  await (await jetstreamManager(nc)).streams.purge(STREAM);
}

describe('anti-entropy between real nodes over real NATS', () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  const started: ClusterNode[] = [];
  const start = async (id: string, args: readonly string[] = ON_DEMAND, dataDir?: string): Promise<ClusterNode> => {
    const node = await startClusterNode(nats.url, id, args, dataDir);
    started.push(node);
    return node;
  };
  beforeEach(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    await nc?.close();
    // Last started first: a restarted node's first incarnation owns (and removes) the data dir.
    for (const node of started.splice(0).reverse()) await stopClusterNode(node);
    await nats?.[Symbol.asyncDispose]();
  });

  it('repairs two nodes that diverged while one did not replicate, in one round, without JetStream replay', async () => {
    const a = await start('a');
    const b = await start('b');
    await seeEachOther([a, b]);
    await a.send('MSET s1 v1 s2 v2 s3 v3 victim x');
    await a.send('INC ctr 10');
    await a.send('INC ctr2 3');
    await eventually('b to hold the baseline', async () => (await b.send('GET ctr2')) === 'VALUE 3' && (await b.send('EXISTS s1 s2 s3 victim')) === 'EXISTS 4');

    expect(await b.send('REPLICATE disable')).toBe('OK');
    // Both take writes of every type, on the same keys; b's come later in time, so they win where
    // last-writer-wins decides; concurrent increments all count; a delete beats older increments.
    expect(await a.send('SET k1 from-a')).toBe('OK');
    expect(await a.send('INC ctr 5')).toBe('VALUE 15');
    expect(await a.send('DEL victim')).toBe('DELETED');
    expect(await a.send('APPEND s1 -a')).toBe('VALUE v1-a');
    expect(await a.send('INC ctr2 1')).toBe('VALUE 4');
    expect(await a.send('MSET a-only1 1 a-only2 2')).toBe('OK');
    expect(await b.send('SET k1 from-b')).toBe('OK');
    expect(await b.send('INC ctr 7')).toBe('VALUE 17');
    expect(await b.send('SET victim revived-by-b')).toBe('OK');
    expect(await b.send('DEL s2')).toBe('DELETED');
    expect(await b.send('PREPEND s3 b-')).toBe('VALUE b-v3');
    expect(await b.send('DEL ctr2')).toBe('DELETED');
    expect(await b.send('SET b-only x')).toBe('OK');

    // a's changes reached the stream; the stream loses them (as if its retention ran out).
    await eventually('a to publish its changes', async () => (await a.info()).get('outbox_depth') === '0');
    await purgeStream(nc);
    expect(await b.send('REPLICATE enable')).toBe('OK');
    await eventually('b to publish its held-back changes', async () => (await b.info()).get('outbox_depth') === '0');
    await eventually('a to merge them', async () => (await a.send('GET b-only')) === 'VALUE x');
    const appliedOnB = (await b.info()).get('replication_applied');
    expect(await b.send('GET a-only1')).toBe('NOT_FOUND'); // nothing replays a's missed changes
    expect(await converged([a, b])).toBe(false);

    const session = await round(b, 'a');
    expect(session).toMatchObject({ peer: 'a', result: 'ok' });
    expect(session.keysPulled).toBeGreaterThan(0);
    expect(await converged([a, b])).toBe(true);
    expect((await b.info()).get('replication_applied')).toBe(appliedOnB);
    for (const node of [a, b]) {
      expect(await node.send('GET k1')).toBe('VALUE from-b');
      expect(await node.send('GET ctr')).toBe('VALUE 22');
      expect(await node.send('GET victim')).toBe('VALUE revived-by-b');
      expect(await node.send('GET s1')).toBe('VALUE v1-a');
      expect(await node.send('GET s2')).toBe('NOT_FOUND');
      expect(await node.send('GET s3')).toBe('VALUE b-v3');
      expect(await node.send('GET ctr2')).toBe('NOT_FOUND');
      expect(await node.send('EXISTS a-only1 a-only2 b-only')).toBe('EXISTS 3');
    }
    const info = await b.info();
    expect(info.get('anti_entropy_peer_a')).toMatch(/result=ok,keys_repaired=[1-9]\d*,bytes_sent=\d+,bytes_received=\d+,round_trips=\d+/);
    const view = (await (await fetch(`http://127.0.0.1:${b.process.ports.http}/v1/cluster`)).json()) as { antiEntropy: { sessions: SessionRecord[] } };
    expect(view.antiEntropy.sessions).toContainEqual(expect.objectContaining({ peer: 'a', result: 'ok', keysRepaired: session.keysRepaired }));
  });

  it('fills a wiped node that rejoins until both stores are identical', async () => {
    const a = await start('a');
    const first = await start('b');
    await seeEachOther([a, first]);
    for (let i = 0; i < 20; i++) {
      const pairs = Array.from({ length: 50 }, (_, j) => `key:${i * 50 + j} ${'v'.repeat(50)}-${i * 50 + j}`).join(' ');
      expect(await a.send(`MSET ${pairs}`)).toBe('OK');
    }
    for (let i = 0; i < 100; i++) await a.send(`DEL key:${i * 7}`);
    await a.send('INC counter 42');
    await eventually('b to catch up', () => converged([a, first]));

    const dataDir = first.process.dataDir;
    await first.client.close();
    expect(await first.process.stop()).toBe(0);
    rmSync(dataDir, { recursive: true, force: true });
    mkdirSync(dataDir);
    // Its durable consumer acknowledged everything before: the stream has nothing to replay.
    const b = await start('b', ['--anti-entropy-interval', '1'], dataDir);
    await eventually('the wiped node to converge', () => converged([a, b]), DEADLINE_MS);
    expect(await b.send('DBSIZE')).toBe('DBSIZE 901');
    expect(await b.send('GET counter')).toBe('VALUE 42');
    expect(await b.send('GET key:7')).toBe('NOT_FOUND');
    await b.process.waitForLine('syncing from a peer into empty shards', 5_000);
    expect((await b.info()).get('anti_entropy_sync')).toBe('idle');
  });

  it('detects an entry corrupted or lost on disk and repairs it from a peer', async () => {
    const a = await start('a');
    const first = await start('b');
    await seeEachOther([a, first]);
    await a.send('MSET good1 1 corrupt-me precious lose-me also-precious good2 2');
    await eventually('b to hold everything', () => converged([a, first]));

    const dataDir = first.process.dataDir;
    await first.client.close();
    expect(await first.process.stop()).toBe(0);
    // Behind the node's back: garbage bytes in one record, another record gone.
    const engine = new RocksDbEngine(dataDir);
    await engine.open();
    await engine.write(
      [
        { type: 'put', shard: shardOf('corrupt-me', 16), key: 'corrupt-me', value: Buffer.from([1, 0, 0xde, 0xad]) },
        { type: 'del', shard: shardOf('lose-me', 16), key: 'lose-me' },
      ],
      true,
    );
    await engine.close();

    const b = await start('b', ON_DEMAND, dataDir);
    // The node reads entries lazily: the bad record is found by the GET, and both by the scrub
    // that starts a few seconds after the open, which makes the tree follow the stored entries.
    expect(await b.send('GET corrupt-me')).toBe('NOT_FOUND');
    await b.process.waitForLine('skipped an unreadable stored entry');
    await b.process.waitForLine('repaired the stored Merkle trees');
    await seeEachOther([a, b]);
    expect(await converged([a, b])).toBe(false);
    const session = await round(b, 'a');
    expect(session).toMatchObject({ result: 'ok', keysPulled: 2 });
    expect(await b.send('GET corrupt-me')).toBe('VALUE precious');
    expect(await b.send('GET lose-me')).toBe('VALUE also-precious');
    expect(await converged([a, b])).toBe(true);
  });

  it('keeps converging while writes continue on every node', async () => {
    const fast = ['--anti-entropy-interval', '1'];
    const nodes = [await start('a', fast), await start('b', fast), await start('c', fast)];
    await seeEachOther(nodes);
    let writing = true;
    const clients = await Promise.all(nodes.map((node) => TextClient.connect(node.process.ports.merklekv)));
    const writers = clients.map(async (client, n) => {
      for (let i = 0; writing; i++) {
        await client.request(`SET w${n}:${i % 50} ${i}`);
        await client.request(`INC shared ${n + 1}`);
        if (i % 7 === 0) await client.request(`DEL w${(n + 1) % 3}:${i % 50}`);
      }
    });
    // Meanwhile the stream keeps losing changes: only anti-entropy can bring them everywhere.
    const repairedBy = async (): Promise<number> =>
      (await Promise.all(nodes.map((n) => n.info())))
        .flatMap((info) => [...info].filter(([k]) => k.startsWith('anti_entropy_peer_')).map(([, v]) => Number(/keys_repaired=(\d+)/.exec(v)?.[1] ?? 0)))
        .reduce((x, y) => x + y, 0);
    await eventually('anti-entropy to repair keys during the writes', async () => {
      await purgeStream(nc);
      return (await repairedBy()) > 0;
    }, DEADLINE_MS);
    writing = false;
    await Promise.all(writers);
    await Promise.all(clients.map((c) => c.close()));
    await eventually('all three to converge once the writes stop', () => converged(nodes), DEADLINE_MS);
    const totals = await Promise.all(nodes.map((n) => n.send('GET shared')));
    expect(new Set(totals).size).toBe(1);
  });

  it('answers malformed and hostile messages with an error and changes nothing', async () => {
    const a = await start('a');
    await a.send('MSET k1 v1 k2 v2 k3 v3');
    const before = `${await fingerprint(a)} ${await a.send('DBSIZE')}`;
    const subject = 'merklekv.merkle_kv.ae.a';
    const ask = async (bytes: Uint8Array): Promise<Reply> => decodeReply((await nc.request(subject, bytes, { timeout: 10_000 })).data);
    // The node is ready before its session responder has subscribed over NATS (in the background).
    await eventually('a to answer session messages over NATS', async () => (await ask(Buffer.from('hello?'))).kind === 'error');
    const stamp = { hlc: { wall: Date.now(), logical: 0 }, node: 'evil' };
    const wrongShard = shardOf('k1', 16) === 0 ? 1 : 0;
    const bogus = new Uint8Array(32).fill(0xee);
    const cases: [string, Uint8Array, string][] = [
      ['garbage', Buffer.from('definitely not a session message'), 'VERSION'],
      ['a truncated hello', encodeRequest({ kind: 'hello', version: 1, salt: 0, node: 'evil', fanout: 16, shards: [] }).subarray(0, 5), 'DECODE'],
      ['the wrong shard count', encodeRequest({ kind: 'hello', version: 1, salt: 0, node: 'evil', fanout: 16, shards: [{ root: bogus, floor: stamp }] }), 'MISMATCH'],
      ['a shard out of range', encodeRequest({ kind: 'batch', version: 1, ops: [{ op: 'fetch', shard: 99, keys: ['k1'], versions: [null] }] }), 'BAD_SHARD'],
      [
        'a key pushed under the wrong shard',
        encodeRequest({ kind: 'batch', version: 1, ops: [{ op: 'push', shard: wrongShard, entries: [['k1', { type: 'register', stamp, value: Buffer.from('pwned') }]] }] }),
        'BAD_SHARD',
      ],
      ['a huge batch', encodeRequest({ kind: 'batch', version: 1, ops: Array.from({ length: 5000 }, () => ({ op: 'range' as const, shard: 0, after: null })) }), 'TOO_LARGE'],
      ['bad hashes', encodeRequest({ kind: 'batch', version: 1, ops: [{ op: 'summaries', shard: 0, request: { root: bogus, refs: [{ hash: bogus, lo: null }] } }] }), 'STALE'],
    ];
    for (const [what, bytes, code] of cases) expect([what, await ask(bytes)]).toEqual([what, expect.objectContaining({ kind: 'error', code })]);
    // The same through the MerkleKV port, as SYNC carries them.
    const reply = await a.send(`AE ${Buffer.from('garbage').toString('base64')}`);
    expect(decodeReply(Buffer.from(reply.slice(3), 'base64'))).toMatchObject({ kind: 'error', code: 'VERSION' });
    expect(await a.send('AE not*base64')).toBe('ERROR AE takes one session message in base64');
    expect(`${await fingerprint(a)} ${await a.send('DBSIZE')}`).toBe(before);
    expect(await a.send('GET k1')).toBe('VALUE v1');
  });

  it('SYNC host port: a session with one of our nodes through its MerkleKV port, both ways', async () => {
    // Two clusters on one NATS: they do not replicate to each other.
    const a = await start('a', [...ON_DEMAND, '--cluster', 'left']);
    const b = await start('b', [...ON_DEMAND, '--cluster', 'right']);
    await a.send('MSET mine 1 shared from-a');
    await b.send('MSET theirs 2 shared from-b');
    await b.send('INC hits 3');
    expect(await a.send(`SYNC 127.0.0.1 ${b.process.ports.merklekv}`)).toBe('OK');
    expect(await converged([a, b])).toBe(true);
    expect(await a.send('GET theirs')).toBe('VALUE 2');
    expect(await a.send('GET shared')).toBe('VALUE from-b');
    expect(await b.send('GET mine')).toBe('VALUE 1');
    expect((await a.info()).get('anti_entropy_peer_b')).toMatch(/via=text,result=ok,keys_repaired=[1-9]/);
    expect(await a.send('SYNC 127.0.0.1 1')).toMatch(/^ERROR SYNC cannot reach 127\.0\.0\.1:1/);
  });

  it('runs rounds with the static peers of anti_entropy.peer_list too', async () => {
    const b = await start('b', [...ON_DEMAND, '--cluster', 'right']);
    await b.send('MSET from-static-peer 1 more 2');
    const a = await start('a', ['--anti-entropy-interval', '1', '--cluster', 'left', '--peer', `127.0.0.1:${b.process.ports.merklekv}`]);
    await a.send('SET from-a 3');
    await eventually('the rounds to converge both', () => converged([a, b]), DEADLINE_MS);
    expect(await b.send('GET from-a')).toBe('VALUE 3');
  });

  it('SYNC host port against a server without anti-entropy falls back to SCAN and GET', async () => {
    const a = await start('a');
    // A standalone node answers AE with an error, as the reference server answers an unknown command.
    await using plain = await startNode({ args: ['--engine', 'memory'] });
    const client = await TextClient.connect(plain.ports.merklekv);
    try {
      for (let i = 0; i < 30; i++) await client.request(`SET ref:${i} value number ${i}`);
      await a.send('SET ref:0 stale');
      await a.send('SET local-only kept');
      expect(await a.send(`SYNC 127.0.0.1 ${plain.ports.merklekv}`)).toBe('OK');
      expect(await a.send('GET ref:0')).toBe('VALUE value number 0');
      expect(await a.send('GET ref:29')).toBe('VALUE value number 29');
      expect(await a.send('GET local-only')).toBe('VALUE kept');
      expect((await a.info()).get(`anti_entropy_peer_127.0.0.1_${plain.ports.merklekv}`)).toMatch(/via=scan,result=ok,keys_repaired=30,/);
    } finally {
      await client.close();
    }
  });
});
