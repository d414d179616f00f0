import { connect } from '@nats-io/transport-node';
import { eventually, type NatsServer, type NodeProcess, type ServiceProcess, startNatsServer, startNode, startStoreShard, TextClient } from '#testing';
import { shardOf } from '#store';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

const REPLICATION_DEADLINE_MS = 15_000;

/**
 * One real nats-server; an all-in-one node `a`; and a split deployment of the same cluster: a
 * gateway process over two store-shard processes, `s1` hosting shards 0-7 and `s2` 8-15.
 */
describe('a split deployment: gateway and store-shard processes over the NestJS NATS transport', () => {
  let nats: NatsServer;
  let a: ClusterNode;
  let s1: ServiceProcess;
  let s2: ServiceProcess;
  let gateway: NodeProcess;
  let g: TextClient;
  const storeShard = (id: string, shards: string, dataDir?: string): Promise<ServiceProcess> =>
    startStoreShard({ args: ['--nats', nats.url, '--node-id', id, '--hosted-shards', shards], ...(dataDir ? { dataDir } : {}) });

  beforeAll(async () => {
    nats = await startNatsServer();
    [a, s1, s2, gateway] = await Promise.all([
      startClusterNode(nats.url, 'a'),
      storeShard('s1', '0-7'),
      storeShard('s2', '8-15'),
      startNode({ role: 'gateway', args: ['--nats', nats.url, '--node-id', 'g'] }),
    ]);
    g = await TextClient.connect(gateway.ports.merklekv);
    await eventually('a to see both store-shard processes', async () => (await a.info()).get('peers_alive') === '2');
  });
  afterAll(async () => {
    await g?.close();
    await Promise.all([gateway, s1, s2].map((p) => p?.[Symbol.asyncDispose]()));
    await stopClusterNode(a);
    await nats?.[Symbol.asyncDispose]();
  });

  const bothSides = (what: string, line: string, expected: string): Promise<void> =>
    eventually(`${what} through the gateway and on a`, async () => (await g.request(line)) === expected && (await a.send(line)) === expected, REPLICATION_DEADLINE_MS);

  const sameStores = (): Promise<void> =>
    eventually('equal HASH and MST roots on both sides', async () => {
      const [hashG, hashA] = [await g.request('HASH'), await a.send('HASH')];
      return hashG === hashA && (await g.info()).get('mst_roots_digest') === (await a.info()).get('mst_roots_digest');
    }, REPLICATION_DEADLINE_MS);

  it('replicates writes made through the gateway to the all-in-one node, and back', async () => {
    expect(await g.request('SET from-gateway hello split')).toBe('OK');
    expect(await a.send('SET from-a hello whole')).toBe('OK');
    await bothSides('the gateway write', 'GET from-gateway', 'VALUE hello split');
    await bothSides('the node write', 'GET from-a', 'VALUE hello whole');
  });

  it('counts 1,000 concurrent increments from both sides exactly', async () => {
    const perSide = 500;
    await Promise.all(
      [g, a.client].map(async (client) => {
        for (let i = 0; i < perSide; i++) client.send('INC split-hits');
        const replies = await client.readLines(perSide);
        expect(replies.every((r) => r.startsWith('VALUE '))).toBe(true);
      }),
    );
    await bothSides('the sum', 'GET split-hits', `VALUE ${2 * perSide}`);
  });

  it('splits multi-key commands across both store-shard processes and answers like one node', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `m${i}`);
    expect(await g.request(`MSET ${keys.map((k, i) => `${k} v${i}`).join(' ')}`)).toBe('OK');
    g.send(`MGET ${keys.join(' ')} missing`);
    expect(await g.readLines(keys.length + 2)).toEqual(['VALUES 12', ...keys.map((k, i) => `${k} v${i}`), 'missing NOT_FOUND']);
    expect(await g.request(`EXISTS ${keys.join(' ')} missing`)).toBe('EXISTS 12');
    // Both processes hold some of them: the keyspace really is split.
    const view = (await (await fetch(`http://127.0.0.1:${gateway.ports.http}/v1/cluster`)).json()) as { mode: string; shards: { node: string; keys: number }[] };
    expect(view.mode).toBe('gateway');
    expect(new Set(view.shards.filter((s) => s.keys > 0).map((s) => s.node))).toEqual(new Set(['s1', 's2']));

    expect(await g.request('DEL m3')).toBe('DELETED');
    expect(await g.request('APPEND m4 -tail')).toBe('VALUE v4-tail');
    await bothSides('DEL', 'GET m3', 'NOT_FOUND');
    await bothSides('APPEND', 'GET m4', 'VALUE v4-tail');
    await bothSides('the key count', 'DBSIZE', `DBSIZE ${(await a.send('DBSIZE')).split(' ')[1]}`);
    await sameStores();

    expect(await g.request('TRUNCATE')).toBe('OK');
    await bothSides('TRUNCATE', 'DBSIZE', 'DBSIZE 0');
    expect(await a.send('SET after-truncate yes')).toBe('OK');
    await bothSides('a write after TRUNCATE', 'GET after-truncate', 'VALUE yes');
    await sameStores();
  });

  it('streams changes of every shard, from any node, to a WATCH on the gateway and to server-sent events', async () => {
    const watcher = await TextClient.connect(gateway.ports.merklekv);
    try {
      watcher.send('WATCH sw:');
      expect(await watcher.readLine()).toBe('WATCHING sw:');
      const sse = await fetch(`http://127.0.0.1:${gateway.ports.http}/v1/watch?prefix=sw:`);
      const reader = sse.body!.getReader();
      // Two keys on different store-shard processes: one written on a and replicated, one through the gateway.
      const [onS1, onS2] = [findKey((shard) => shard <= 7, 'sw:'), findKey((shard) => shard >= 8, 'sw:')];
      await a.send(`SET ${onS1} from-a`);
      await g.request(`SET ${onS2} from-gateway`);
      await g.request('SET elsewhere ignored');
      const lines = [await watcher.readLine(REPLICATION_DEADLINE_MS), await watcher.readLine(REPLICATION_DEADLINE_MS)];
      expect(lines.sort()).toEqual([`CHANGE ${onS1} from-a`, `CHANGE ${onS2} from-gateway`].sort());
      expect(await watcher.request('stop watching')).toBe('END');
      expect(await watcher.request('PING')).toBe('PONG');

      let text = '';
      const decoder = new TextDecoder();
      await eventually('the SSE stream to carry both changes', async () => {
        text += decoder.decode((await reader.read()).value);
        return text.includes(onS1) && text.includes(onS2);
      }, REPLICATION_DEADLINE_MS);
      await reader.cancel();
      expect(text).not.toContain('elsewhere');
    } finally {
      await watcher.close();
    }
  });

  it('answers garbage on a shard subject with an error reply and changes nothing', async () => {
    const before = await g.request('DBSIZE');
    const nc = await connect({ servers: nats.url });
    try {
      for (const payload of ['not json', '{"v":1,"op":"command","command":{"name":"SET","key":"k","value":"raw"}}', '{"id":"x","data":{"v":7}}']) {
        const reply = await nc.request('merklekv.merkle_kv.kv.main.3', payload, { timeout: 5000 });
        expect(reply.string()).toMatch(/error|BAD_REQUEST/i);
      }
    } finally {
      await nc.close();
    }
    expect(await g.request('DBSIZE')).toBe(before);
    expect(await g.request('PING')).toBe('PONG');
  });

  it('names the shards of a stopped store-shard process, and that process catches up when it returns', async () => {
    const keyOfS1 = findKey((shard) => shard <= 7);
    expect(await s1.stop()).toBe(0);
    // The other half keeps serving.
    const keyOfS2 = findKey((shard) => shard >= 8);
    expect(await g.request(`SET ${keyOfS2} still-here`)).toBe('OK');
    expect(await g.request(`GET ${keyOfS1}`)).toMatch(/^ERROR shard \d+ did not answer/);

    for (let i = 0; i < 50; i++) await a.send(`SET while-s1-away-${i} ${i}`);
    const first = s1;
    s1 = await storeShard('s1', '0-7', first.dataDir);
    await bothSides('the writes made while s1 was away', 'DBSIZE', `DBSIZE ${(await a.send('DBSIZE')).split(' ')[1]}`);
    await sameStores();
    // The first incarnation owns the data directory: dispose it last, after its successor.
    await s1[Symbol.asyncDispose]();
    s1 = first;
  });
});

/** A key whose shard (of the default 16) satisfies `wanted`. */
function findKey(wanted: (shard: number) => boolean, prefix = 'probe-'): string {
  for (let i = 0; ; i++) if (wanted(shardOf(`${prefix}${i}`, 16))) return `${prefix}${i}`;
}
