import { eventually, type NatsServer, startNatsServer } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

/** Replication and expiry deadlines: a loaded machine can take seconds. */
const DEADLINE_MS = 20_000;

/** Per-key TTL and compare-and-set on three nodes over one real nats-server. */
describe('TTL and compare-and-set in a cluster', () => {
  let nats: NatsServer;
  const nodes: ClusterNode[] = [];
  /** Stopped incarnations of restarted nodes: each owns (and removes) its data dir, so it goes last. */
  const retired: ClusterNode[] = [];
  const url = (node: ClusterNode, path: string): string => `http://127.0.0.1:${node.process.ports.http}${path}`;

  beforeAll(async () => {
    nats = await startNatsServer();
    nodes.push(...(await Promise.all(['a', 'b', 'c'].map((id) => startClusterNode(nats.url, id)))));
    await eventually('every node to see two live peers', async () => (await Promise.all(nodes.map((n) => n.info()))).every((i) => i.get('peers_alive') === '2'));
  });
  afterAll(async () => {
    for (const node of [...nodes.splice(0), ...retired.splice(0)]) await stopClusterNode(node);
    await nats?.[Symbol.asyncDispose]();
  });

  const everywhere = (what: string, probe: (node: ClusterNode) => Promise<boolean>): Promise<void> =>
    eventually(`${what} on every node`, async () => (await Promise.all(nodes.map(probe))).every(Boolean), DEADLINE_MS);
  const status = async (node: ClusterNode, path: string): Promise<number> => (await fetch(url(node, path))).status;
  const sameRoots = (): Promise<void> =>
    eventually('equal MST roots everywhere', async () => new Set((await Promise.all(nodes.map((n) => n.info()))).map((i) => i.get('mst_roots_digest'))).size === 1, DEADLINE_MS);

  it('a key written with a 2 s TTL on one node is read on the others, then gone on all three, and stays gone after a restart', async () => {
    const [a] = nodes as [ClusterNode, ClusterNode, ClusterNode];
    const before = Date.now();
    expect((await fetch(url(a, '/v1/kv/session?ttl=2'), { method: 'PUT', body: 's1' })).status).toBe(204);
    expect(await a.send('SET token t1')).toBe('OK');
    expect(await a.send('EXPIRE token 2')).toBe('OK');
    expect(await a.send('SET keeper k')).toBe('OK');
    expect(await a.send('SET long-lived l')).toBe('OK');
    expect(await a.send('EXPIRE long-lived 100000')).toBe('OK');

    // Readable on B and C with what remains of the TTL; the other keys have no expiry.
    await everywhere('the expiring keys', async (n) => (await n.send('GET token')) === 'VALUE t1' && (await status(n, '/v1/kv/session')) === 200);
    for (const n of nodes.slice(1)) {
      const response = await fetch(url(n, '/v1/kv/session'));
      // Still readable here means the 2 s are not over; the header rounds up.
      if (response.status === 200) expect(['1', '2']).toContain(response.headers.get('merklekv-ttl'));
      expect(await n.send('TTL keeper')).toBe('TTL -1');
      expect(await n.send('TTL nothing')).toBe('TTL -2');
    }

    // Gone on all three once expired: reads never return it, and the sweeper removes it.
    await everywhere('the expiry', async (n) => (await n.send('GET token')) === 'NOT_FOUND' && (await status(n, '/v1/kv/session')) === 404);
    // Not before its time: the node set the expiry after `before`, on this machine's clock.
    expect(Date.now() - before).toBeGreaterThanOrEqual(2000);
    await everywhere('the sweep', async (n) => (await n.send('DBSIZE')) === 'DBSIZE 2' && (await n.send('TTL token')) === 'TTL -2');
    // Every replica derived the same expired form on its own: the trees agree.
    await sameRoots();

    // A restarted node keeps the expired keys gone and the other key's expiry.
    const b = nodes[1]!;
    const dataDir = b.process.dataDir;
    await b.client.close();
    expect(await b.process.stop()).toBe(0);
    retired.push(b);
    const again = await startClusterNode(nats.url, 'b', [], dataDir);
    nodes[1] = again;
    expect(await again.send('GET token')).toBe('NOT_FOUND');
    expect(await status(again, '/v1/kv/session')).toBe(404);
    expect(await again.send('DBSIZE')).toBe('DBSIZE 2');
    const ttl = Number((await again.send('TTL long-lived')).split(' ')[1]);
    expect(ttl).toBeGreaterThan(99_000);
    expect(ttl).toBeLessThanOrEqual(100_000);
    expect(await again.send('PERSIST long-lived')).toBe('OK');
    await everywhere('the PERSIST', async (n) => (await n.send('TTL long-lived')) === 'TTL -1');
  });

  it('HTTP If-Match: of racing writes with one ETag exactly one stores; a mismatch is 412 and changes nothing', async () => {
    const a = nodes[0]!;
    await fetch(url(a, '/v1/kv/doc'), { method: 'PUT', body: 'v0' });
    const etag = (await fetch(url(a, '/v1/kv/doc'))).headers.get('etag')!;
    expect(etag).toMatch(/^"[0-9a-f]{16}"$/);

    const racers = Array.from({ length: 10 }, (_, i) => fetch(url(a, '/v1/kv/doc'), { method: 'PUT', body: `w${i}`, headers: { 'if-match': etag } }));
    const responses = await Promise.all(racers);
    const winners = responses.map((r, i) => [r.status, i] as const).filter(([s]) => s === 204);
    expect(winners).toHaveLength(1);
    expect(responses.filter((r) => r.status === 412)).toHaveLength(9);
    const current = await fetch(url(a, '/v1/kv/doc'));
    expect(await current.text()).toBe(`w${winners[0]![1]}`);
    const currentTag = current.headers.get('etag')!;
    expect(currentTag).toBe(responses[winners[0]![1]]!.headers.get('etag'));

    const refused = await fetch(url(a, '/v1/kv/doc'), { method: 'PUT', body: 'late', headers: { 'if-match': etag } });
    expect(refused.status).toBe(412);
    expect(await refused.json()).toEqual({ error: { code: 'PRECONDITION_FAILED', message: "key 'doc' does not match If-Match" } });
    const after = await fetch(url(a, '/v1/kv/doc'));
    expect(await after.text()).toBe(`w${winners[0]![1]}`);
    expect(after.headers.get('etag')).toBe(currentTag);

    const removeRefused = await fetch(url(a, '/v1/kv/doc'), { method: 'DELETE', headers: { 'if-match': etag } });
    expect(removeRefused.status).toBe(412);
    expect(await status(a, '/v1/kv/doc')).toBe(200);
    expect((await fetch(url(a, '/v1/kv/doc'), { method: 'PUT', body: 'x', headers: { 'if-none-match': '*' } })).status).toBe(412);
    expect((await fetch(url(a, '/v1/kv/doc'), { method: 'DELETE', headers: { 'if-match': currentTag } })).status).toBe(204);
    expect((await fetch(url(a, '/v1/kv/doc'), { method: 'PUT', body: 'new', headers: { 'if-none-match': '*' } })).status).toBe(204);
    expect((await fetch(url(a, '/v1/kv/fresh'), { method: 'PUT', body: 'x', headers: { 'if-match': '*' } })).status).toBe(412);
    expect(await status(a, '/v1/kv/fresh')).toBe(404);
  });

  it('two nodes racing a compare-and-set with one ETag may both store; the merge order decides, the same everywhere', async () => {
    const [a, b] = nodes as [ClusterNode, ClusterNode];
    await fetch(url(a, '/v1/kv/race'), { method: 'PUT', body: 'start' });
    await everywhere('the start value', async (n) => (await status(n, '/v1/kv/race')) === 200);
    const etag = (await fetch(url(a, '/v1/kv/race'))).headers.get('etag')!;
    // Replication held back on both, as a partition or a slow link would: each node judges alone.
    for (const n of [a, b]) expect(await n.send('REPLICATE disable')).toBe('OK');
    const [fromA, fromB] = await Promise.all(
      [a, b].map((n, i) => fetch(url(n, '/v1/kv/race'), { method: 'PUT', body: `from-${i}`, headers: { 'if-match': etag } })),
    );
    expect([fromA!.status, fromB!.status]).toEqual([204, 204]);
    for (const n of [a, b]) expect(await n.send('REPLICATE enable')).toBe('OK');
    // Both writes replicate; the later stamp wins on every replica, with one ETag.
    await everywhere('one value', async () => {
      const seen = await Promise.all(nodes.map(async (n) => {
        const response = await fetch(url(n, '/v1/kv/race'));
        return `${await response.text()} ${response.headers.get('etag')}`;
      }));
      return new Set(seen).size === 1;
    });
    expect(['from-0', 'from-1']).toContain(await (await fetch(url(a, '/v1/kv/race'))).text());
  });
});
