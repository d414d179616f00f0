import { execFileSync } from 'node:child_process';
import { startNatsServer, TextClient } from '#testing';
import { type ClusterNode, startClusterNode } from '../support/cluster.js';
import { expectConverged, FAST_ANTI_ENTROPY, moreAcked, sleep, stopAll, waitForPeers, Writer } from './support.js';

const IP = '/usr/sbin/ip';
const NAMESPACE = `merklekv-fault-${process.pid}`;
/**
 * Two veth pairs between the root namespace and the node's: one carries NATS and is cut, the
 * other carries the test's own connections to the node, so it can write on both sides.
 */
const LINKS = {
  nats: { root: `mkv${process.pid}n`, inside: `mkv${process.pid}N`, rootIp: '10.213.17.1', insideIp: '10.213.17.2' },
  control: { root: `mkv${process.pid}c`, inside: `mkv${process.pid}C`, rootIp: '10.213.18.1', insideIp: '10.213.18.2' },
};

const ip = (...args: string[]): void => {
  execFileSync(IP, args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

function createNetwork(): void {
  ip('netns', 'add', NAMESPACE);
  ip('netns', 'exec', NAMESPACE, IP, 'link', 'set', 'lo', 'up');
  for (const link of Object.values(LINKS)) {
    ip('link', 'add', link.root, 'type', 'veth', 'peer', 'name', link.inside, 'netns', NAMESPACE);
    ip('addr', 'add', `${link.rootIp}/24`, 'dev', link.root);
    ip('link', 'set', link.root, 'up');
    ip('netns', 'exec', NAMESPACE, IP, 'addr', 'add', `${link.insideIp}/24`, 'dev', link.inside);
    ip('netns', 'exec', NAMESPACE, IP, 'link', 'set', link.inside, 'up');
  }
}

/** Best effort, for every step: whatever part of the network exists goes. */
function removeNetwork(): void {
  for (const args of [['netns', 'del', NAMESPACE], ...Object.values(LINKS).map((link) => ['link', 'del', link.root])]) {
    try {
      ip(...args);
    } catch {
      // Already gone (deleting the namespace takes its veth pairs with it).
    }
  }
}

/** Why the partition cannot be built here, or undefined when it can. */
function unavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to create network namespaces';
  try {
    createNetwork();
    return undefined;
  } catch (err) {
    return `cannot create a network namespace with veth pairs: ${(err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err)}`;
  } finally {
    removeNetwork();
  }
}

const skipReason = unavailable();
if (skipReason !== undefined) process.stderr.write(`fault partition: skipped (${skipReason})\n`);
const withNamespaces = skipReason === undefined ? describe : describe.skip;

withNamespaces('a network partition', () => {
  it('converges after the link to a node in another network namespace is cut for some seconds while both sides take writes', async () => {
    const nodes: ClusterNode[] = [];
    const writers: Writer[] = [];
    try {
      createNetwork();
      // Reachable on loopback by the root namespace's node, and over the veth pair by the other.
      await using nats = await startNatsServer({ args: ['-a', '0.0.0.0'] });
      const outside = await startClusterNode(nats.url, 'a', FAST_ANTI_ENTROPY);
      nodes.push(outside);
      const inside = await startClusterNode(
        `nats://${LINKS.nats.rootIp}:${nats.port}`,
        'b',
        // A private test namespace: protected mode would refuse its non-loopback address without users.
        [...FAST_ANTI_ENTROPY, '--host', LINKS.control.insideIp, '--insecure'],
        undefined,
        undefined,
        [IP, 'netns', 'exec', NAMESPACE],
      );
      nodes.push(inside);
      await waitForPeers(nodes);

      const acked = new Map<string, string>();
      writers.push(new Writer('outside', () => TextClient.connect(outside.process.ports.merklekv), acked));
      writers.push(new Writer('inside', () => TextClient.connect(inside.process.ports.merklekv, { host: LINKS.control.insideIp }), acked));
      await moreAcked(acked, 200, 'before the partition');
      ip('link', 'set', LINKS.nats.root, 'down');
      await moreAcked(acked, 300, 'during the partition');
      expect(await outside.send('SET cut-off yes')).toBe('OK');
      acked.set('cut-off', 'yes');
      await sleep(8_000);
      // The cut is real: the write has not crossed it.
      expect(await inside.send('GET cut-off')).toBe('NOT_FOUND');
      ip('link', 'set', LINKS.nats.root, 'up');
      await moreAcked(acked, 200, 'after the link returned');
      await expectConverged('network partition', nodes, writers, acked);
    } finally {
      await stopAll(writers, nodes);
      removeNetwork();
    }
  });
});
