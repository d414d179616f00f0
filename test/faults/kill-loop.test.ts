import { makeTempDir, removeDir, startNatsServer, TextClient } from '#testing';
import { type ClusterNode, startClusterNode } from '../support/cluster.js';
import { expectConverged, FAST_ANTI_ENTROPY, moreAcked, stopAll, waitForPeers, Writer } from './support.js';

const KILLS = 5;

describe('kill -9 loop under load', () => {
  it(`keeps every acknowledged write through ${KILLS} kill -9 and restarts of a node, and converges`, async () => {
    await using nats = await startNatsServer();
    const dataDir = await makeTempDir('fault-kill');
    let victim: ClusterNode | undefined;
    let steady: ClusterNode | undefined;
    const writers: Writer[] = [];
    try {
      victim = await startClusterNode(nats.url, 'a', FAST_ANTI_ENTROPY, dataDir);
      steady = await startClusterNode(nats.url, 'b', FAST_ANTI_ENTROPY);
      await waitForPeers([victim, steady]);
      const acked = new Map<string, string>();
      const victimPort = (): number => victim!.process.ports.merklekv;
      writers.push(new Writer('kill-a', () => TextClient.connect(victimPort()), acked));
      writers.push(new Writer('kill-b', () => TextClient.connect(steady!.process.ports.merklekv), acked));

      for (let kill = 0; kill < KILLS; kill++) {
        await moreAcked(acked, 100, `before kill ${kill + 1}`);
        await victim.client.close();
        await victim.process.kill();
        victim = await startClusterNode(nats.url, 'a', FAST_ANTI_ENTROPY, dataDir);
      }
      await moreAcked(acked, 100, 'after the last restart');
      await expectConverged('kill -9 loop', [victim, steady], writers, acked);
    } finally {
      await stopAll(writers, [victim, steady]);
      await removeDir(dataDir);
    }
  });
});
