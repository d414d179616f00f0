import { eventually, type NatsServer, startNatsServer, startStoreShard, type StoreShardProcess } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';
import { type Samples, scrape, sum } from './support/metrics.js';

const REPLICATION_DEADLINE_MS = 15_000;

async function readyz(port: number): Promise<{ status: number; body: { status: string; problems?: Record<string, string> } }> {
  const response = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: response.status, body: (await response.json()) as { status: string; problems?: Record<string, string> } };
}

/** Two nodes and a store-shard process over one real nats-server: what operators read off them. */
describe('metrics and readiness', () => {
  let nats: NatsServer;
  let a: ClusterNode;
  let b: ClusterNode;
  let shard: StoreShardProcess;
  const http = (node: ClusterNode): number => node.process.ports.http;

  beforeAll(async () => {
    nats = await startNatsServer();
    [a, b, shard] = await Promise.all([
      startClusterNode(nats.url, 'a'),
      startClusterNode(nats.url, 'b'),
      startStoreShard({ args: ['--nats', nats.url, '--node-id', 's1', '--hosted-shards', '0-3'] }),
    ]);
    await eventually('a and b to see their two peers', async () => (await a.info()).get('peers_alive') === '2' && (await b.info()).get('peers_alive') === '2');
  });
  afterAll(async () => {
    await shard?.[Symbol.asyncDispose]();
    await Promise.all([a, b].map(stopClusterNode));
    await nats?.[Symbol.asyncDispose]();
  });

  it('moves the counters as commands and replication happen', async () => {
    const [beforeA, beforeB] = await Promise.all([scrape(http(a)), scrape(http(b))]);
    const writes = 25;
    for (let i = 0; i < writes; i++) expect(await a.send(`SET metered:${i} v${i}`)).toBe('OK');
    expect(await a.send('GET metered:0')).toBe('VALUE v0');
    expect(await a.send('INC metered:1')).toMatch(/^ERROR/);
    expect((await fetch(`http://127.0.0.1:${http(a)}/v1/kv/metered-http`, { method: 'PUT', body: 'x' })).status).toBe(204);

    const afterA = await scrape(http(a));
    const moved = (name: string, labels: Record<string, string> = {}): number => sum(afterA, name, labels) - sum(beforeA, name, labels);
    expect(moved('merklekv_commands_total', { protocol: 'merklekv', command: 'SET', outcome: 'ok' })).toBe(writes);
    expect(moved('merklekv_commands_total', { protocol: 'merklekv', command: 'GET', outcome: 'ok' })).toBe(1);
    expect(moved('merklekv_commands_total', { protocol: 'merklekv', command: 'INCR', outcome: 'NOT_A_NUMBER' })).toBe(1);
    // HTTP's PUT runs as STORE (it answers the new ETag).
    expect(moved('merklekv_commands_total', { protocol: 'http', command: 'STORE', outcome: 'ok' })).toBe(1);
    expect(moved('merklekv_command_duration_seconds_count', { protocol: 'merklekv', command: 'SET' })).toBe(writes);
    expect(moved('merklekv_command_duration_seconds_bucket', { protocol: 'merklekv', command: 'SET', le: '+Inf' })).toBe(writes);
    expect(sum(afterA, 'merklekv_connections', { protocol: 'merklekv' })).toBeGreaterThanOrEqual(1);
    expect(sum(afterA, 'merklekv_info', { node_id: 'a', process: 'node', tracing: 'false' })).toBe(1);
    expect(sum(afterA, 'merklekv_shard_keys')).toBeGreaterThanOrEqual(writes + 1);
    // The height is the trees' as they stand: they take the keys just written within moments.
    const height = (samples: Samples): number => Math.max(...[...samples].filter(([k]) => k.startsWith('merklekv_mst_height{')).map(([, v]) => v));
    await eventually('a tree to hold the keys written', async () => height(await scrape(http(a))) >= 1);
    // RocksDB's memtable holds the writes above, at least.
    expect(sum(afterA, 'merklekv_storage_engine_bytes')).toBeGreaterThan(0);
    expect(afterA.has('process_cpu_user_seconds_total')).toBe(true);
    expect(afterA.has('merklekv_event_loop_lag_p99_seconds')).toBe(true);

    await eventually('a to have every change published and b to have merged them', async () => {
      const [nowA, nowB] = await Promise.all([scrape(http(a)), scrape(http(b))]);
      return (
        sum(nowA, 'merklekv_replication_published_total') - sum(beforeA, 'merklekv_replication_published_total') >= writes + 1 &&
        sum(nowA, 'merklekv_outbox_depth') === 0 &&
        sum(nowB, 'merklekv_replication_applied_total', { origin: 'a' }) - sum(beforeB, 'merklekv_replication_applied_total', { origin: 'a' }) >= writes + 1
      );
    }, REPLICATION_DEADLINE_MS);
    const afterB = await scrape(http(b));
    expect(afterB.has('merklekv_replication_lag_seconds{peer="a"}')).toBe(true);
    expect(sum(afterB, 'merklekv_membership_peers', { state: 'alive' })).toBe(2);
    expect(sum(afterB, 'merklekv_nats_connected')).toBe(1);
    expect(sum(afterB, 'merklekv_replication_enabled')).toBe(1);
    expect(afterB.has('merklekv_replication_consumer_pending')).toBe(true);
    expect(afterB.has('merklekv_anti_entropy_sessions_total{outcome="ok"}')).toBe(true);
  });

  it("measures the replication lag of a counter change from the increment's stamp, not the counter's", async () => {
    // Both nodes share this host's clock: a change written after `started` and merged before the
    // scrape ends is at most that old. A counter's own stamp is when it started (the Unix epoch
    // for a new key), which read as a lag of decades.
    const increments: ReadonlyArray<[string, () => Promise<unknown>]> = [
      ['INC', () => b.send('INC lag-counter')],
      ['DEC', () => b.send('DEC lag-counter 2')],
      ['HTTP incr', () => fetch(`http://127.0.0.1:${http(b)}/v1/kv/lag-counter/incr`, { method: 'POST', body: '{"amount": 5}', headers: { 'content-type': 'application/json' } })],
    ];
    for (const [what, increment] of increments) {
      const appliedBefore = sum(await scrape(http(a)), 'merklekv_replication_applied_total', { origin: 'b' });
      const started = Date.now();
      await increment();
      await eventually(`a to merge the ${what} from b`, async () => sum(await scrape(http(a)), 'merklekv_replication_applied_total', { origin: 'b' }) > appliedBefore, REPLICATION_DEADLINE_MS);
      const lag = sum(await scrape(http(a)), 'merklekv_replication_lag_seconds', { peer: 'b' });
      const elapsed = (Date.now() - started) / 1000;
      expect({ what, lag, withinElapsed: lag <= elapsed }).toMatchObject({ what, withinElapsed: true });
    }
    expect(await a.send('GET lag-counter')).toBe('VALUE 4');
  });

  it('counts an anti-entropy session with its bytes and round trips', async () => {
    const before = await scrape(http(a));
    // 404 while a periodic round with b happens to be running: ask again.
    await eventually('a round with b on demand', async () => (await fetch(`http://127.0.0.1:${http(a)}/v1/cluster/anti-entropy?peer=b`, { method: 'POST' })).status === 200);
    const after = await scrape(http(a));
    const moved = (name: string, labels: Record<string, string> = {}): number => sum(after, name, labels) - sum(before, name, labels);
    expect(moved('merklekv_anti_entropy_sessions_total', { outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(moved('merklekv_anti_entropy_session_duration_seconds_count')).toBe(moved('merklekv_anti_entropy_sessions_total'));
    expect(moved('merklekv_anti_entropy_round_trips_total')).toBeGreaterThanOrEqual(1);
    expect(moved('merklekv_anti_entropy_bytes_total', { direction: 'sent' })).toBeGreaterThan(0);
    expect(moved('merklekv_anti_entropy_bytes_total', { direction: 'received' })).toBeGreaterThan(0);
  });

  it('serves /metrics and the probes of a store-shard process on its own HTTP port', async () => {
    const port = shard.httpPort!;
    expect(await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()).toEqual({ status: 'ok' });
    await eventually('the store-shard process to be ready', async () => (await readyz(port)).status === 200);
    await eventually('the store-shard process to hold its shards of the writes', async () => {
      const samples = await scrape(port);
      return sum(samples, 'merklekv_info', { node_id: 's1', process: 'store-shard' }) === 1 && sum(samples, 'merklekv_shard_keys') > 0;
    }, REPLICATION_DEADLINE_MS);
    const samples = await scrape(port);
    expect([...samples.keys()].filter((k) => k.startsWith('merklekv_shard_keys{')).sort()).toEqual(['0', '1', '2', '3'].map((s) => `merklekv_shard_keys{shard="${s}"}`));
    expect((await fetch(`http://127.0.0.1:${port}/v1/kv/x`)).status).toBe(404);
  });

  it('turns /readyz unready when NATS goes away, and ready again when it returns', async () => {
    for (const port of [http(a), shard.httpPort!]) expect((await readyz(port)).status).toBe(200);
    await nats.stop();
    await eventually('a and the store-shard process to turn unready', async () => {
      const [fromA, fromShard] = await Promise.all([readyz(http(a)), readyz(shard.httpPort!)]);
      return fromA.status === 503 && fromShard.status === 503;
    });
    const unready = await readyz(http(a));
    expect(unready.body).toEqual({ status: 'unready', problems: { replication: 'not connected to NATS' } });
    expect(sum(await scrape(http(a)), 'merklekv_nats_connected')).toBe(0);
    // Writes keep succeeding meanwhile: readiness tells the cluster is impaired, not that the node is down.
    expect(await a.send('SET while-nats-away yes')).toBe('OK');

    await nats.restart();
    await eventually('a and the store-shard process to be ready again', async () => {
      const [fromA, fromShard] = await Promise.all([readyz(http(a)), readyz(shard.httpPort!)]);
      return fromA.status === 200 && fromShard.status === 200;
    }, REPLICATION_DEADLINE_MS);
    expect(sum(await scrape(http(a)), 'merklekv_nats_reconnects_total')).toBeGreaterThanOrEqual(1);
    await eventually('the write made meanwhile to reach b', async () => (await b.send('GET while-nats-away')) === 'VALUE yes', REPLICATION_DEADLINE_MS);
  });

  it('reports on /v1/cluster the connection state /readyz reports, also while NATS is frozen and the connection looks open', async () => {
    const clusterNode = async (): Promise<{ connected: boolean; connectionProblem?: string }> =>
      ((await (await fetch(`http://127.0.0.1:${http(a)}/v1/cluster`)).json()) as { node: { connected: boolean; connectionProblem?: string } }).node;
    await eventually('a to be ready and connected', async () => (await readyz(http(a))).status === 200 && (await clusterNode()).connected, REPLICATION_DEADLINE_MS);
    // A partition as a node sees it: the TCP connection stays open, nothing answers.
    process.kill(nats.pid, 'SIGSTOP');
    try {
      await eventually('a to turn unready, and /v1/cluster to say the same', async () => {
        const [ready, node] = await Promise.all([readyz(http(a)), clusterNode()]);
        return ready.status === 503 && !node.connected && node.connectionProblem === ready.body.problems?.['replication'];
      });
    } finally {
      process.kill(nats.pid, 'SIGCONT');
    }
    await eventually('a to be ready and connected again', async () => (await readyz(http(a))).status === 200 && (await clusterNode()).connected, REPLICATION_DEADLINE_MS);
  });
});
