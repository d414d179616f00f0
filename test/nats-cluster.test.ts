import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { eventually, type NatsCluster, type NatsServer, startNatsCluster } from '#testing';
import { startClusterNode, stopClusterNode } from './support/cluster.js';

/**
 * Nodes over a 3-server NATS cluster: the stream is replicated three times, so killing one NATS
 * server under a stream of writes (the stream's leader, the hardest case) costs a leader
 * election; nothing written is lost.
 */
async function streamLeader(cluster: NatsCluster): Promise<NatsServer> {
  const nc = await connect({ servers: [...cluster.urls] });
  try {
    const info = await (await jetstreamManager(nc)).streams.info('MERKLEKV_merkle_kv');
    const leader = cluster.servers.find((s) => s.name === info.cluster?.leader);
    if (!leader) throw new Error(`no server named ${info.cluster?.leader}`);
    return leader;
  } finally {
    await nc.close();
  }
}

describe('replication over a 3-server NATS cluster', () => {
  it("keeps replicating when the stream leader's NATS server dies under load", async () => {
    await using cluster = await startNatsCluster(3);
    await cluster.waitForMetaLeader();
    const urls = cluster.urls.join(',');
    // Each node prefers a different server but knows all three.
    const a = await startClusterNode(urls, 'a');
    const b = await startClusterNode([...cluster.urls].reverse().join(','), 'b');
    try {
      await a.send('SET warmup 1');
      await eventually('b to see the first write', async () => (await b.send('GET warmup')) === 'VALUE 1', 30_000);

      const leader = await streamLeader(cluster);
      for (let i = 0; i < 300; i++) {
        expect(await a.send(`SET load:${i} ${i}`)).toBe('OK');
        if (i === 100) await leader.kill();
      }
      // Shards apply in parallel, and deliveries lost with the old leader come back after the
      // consumer's ack wait (30 s): wait for the whole count, not for the last key.
      await eventually('every write to reach b', async () => (await b.send('DBSIZE')) === 'DBSIZE 301', 90_000);
      for (let i = 0; i < 300; i++) expect(await b.send(`GET load:${i}`)).toBe(`VALUE ${i}`);
      await eventually('a to drain its outbox', async () => (await a.info()).get('outbox_depth') === '0', 30_000);
    } finally {
      await stopClusterNode(a);
      await stopClusterNode(b);
    }
  }, 180_000);
});
