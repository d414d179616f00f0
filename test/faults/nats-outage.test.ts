import { startNatsServer } from '#testing';
import { type ClusterNode, stopClusterNode } from '../support/cluster.js';
import { converge, moreAcked, report, sleep, startLoadedCluster, type Writer } from './support.js';

describe('NATS killed under load', () => {
  it('keeps every acknowledged write while nats-server is killed -9 and restarted, and the nodes converge', async () => {
    await using nats = await startNatsServer();
    const acked = new Map<string, string>();
    let nodes: ClusterNode[] = [];
    let writers: Writer[] = [];
    try {
      ({ nodes, writers } = await startLoadedCluster(nats.url, ['a', 'b', 'c'], acked));
      await moreAcked(acked, 300, 'before NATS dies');
      await nats.kill();
      await moreAcked(acked, 300, 'while NATS is down');
      // An outage of some seconds: long enough for clients to notice and reconnect.
      await sleep(5_000);
      await nats.restart();
      await moreAcked(acked, 300, 'after NATS returned');
      await Promise.all(writers.splice(0).map((w) => w.stop()));

      const { ms, lost } = await converge(nodes, acked);
      report('NATS killed', acked.size, lost.length, ms);
      expect(lost).toEqual([]);
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
      await Promise.all(nodes.map(stopClusterNode));
    }
  });
});
