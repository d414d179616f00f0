import { startNatsServer } from '#testing';
import { type ClusterNode, stopClusterNode } from '../support/cluster.js';
import { converge, moreAcked, report, sleep, startLoadedCluster, type Writer } from './support.js';

describe('a frozen node', () => {
  it('catches up after SIGSTOP for some seconds under writes elsewhere, then SIGCONT', async () => {
    await using nats = await startNatsServer();
    const acked = new Map<string, string>();
    let nodes: ClusterNode[] = [];
    let writers: Writer[] = [];
    let frozen: number | undefined;
    try {
      // c takes no writes of its own: a client of a stopped process would only wait.
      ({ nodes, writers } = await startLoadedCluster(nats.url, ['a', 'b', 'c'], acked, 2));
      await moreAcked(acked, 200, 'before the freeze');
      frozen = nodes[2]!.process.pid;
      process.kill(frozen, 'SIGSTOP');
      await moreAcked(acked, 300, 'while c is frozen');
      // Long enough for NATS and the peers to miss its heartbeats.
      await sleep(8_000);
      process.kill(frozen, 'SIGCONT');
      frozen = undefined;
      await moreAcked(acked, 200, 'after c thawed');
      await Promise.all(writers.splice(0).map((w) => w.stop()));

      const { ms, lost } = await converge(nodes, acked);
      report('SIGSTOP node', acked.size, lost.length, ms);
      expect(lost).toEqual([]);
    } finally {
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
      await Promise.all(writers.map((w) => w.stop()));
      await Promise.all(nodes.map(stopClusterNode));
    }
  });
});
