import { mkdirSync, rmSync } from 'node:fs';
import { startNatsServer } from '#testing';
import { type ClusterNode, stopClusterNode } from '../support/cluster.js';
import { converge, moreAcked, report, startLoadedCluster, type Writer } from './support.js';

describe("JetStream's store wiped", () => {
  it('keeps every acknowledged write when nats-server comes back with an empty store, and the nodes converge', async () => {
    await using nats = await startNatsServer();
    const acked = new Map<string, string>();
    let nodes: ClusterNode[] = [];
    let writers: Writer[] = [];
    try {
      ({ nodes, writers } = await startLoadedCluster(nats.url, ['a', 'b', 'c'], acked));
      await moreAcked(acked, 300, 'before the wipe');
      // What a power loss can do to an unsynced store: the stream, its messages and consumers gone.
      await nats.stop();
      rmSync(nats.storeDir, { recursive: true, force: true });
      mkdirSync(nats.storeDir);
      await moreAcked(acked, 200, 'while NATS is down');
      await nats.restart();
      await moreAcked(acked, 300, 'after NATS returned empty');
      await Promise.all(writers.splice(0).map((w) => w.stop()));

      const { ms, lost } = await converge(nodes, acked);
      report('JetStream store wiped', acked.size, lost.length, ms);
      expect(lost).toEqual([]);
    } finally {
      await Promise.all(writers.map((w) => w.stop()));
      await Promise.all(nodes.map(stopClusterNode));
    }
  });
});
