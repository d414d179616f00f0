import { randomBytes } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { eventually, freePort, makeTempDir, type NatsServer, removeDir, startNatsServer } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

const REPLICATION_DEADLINE_MS = 15_000;

/** Three nodes over one real nats-server (JetStream, temp store, ephemeral port). */
describe('replication between three nodes', () => {
  let nats: NatsServer;
  let nodes: ClusterNode[];
  beforeAll(async () => {
    nats = await startNatsServer();
    nodes = await Promise.all(['a', 'b', 'c'].map((id) => startClusterNode(nats.url, id)));
    await eventually('every node to see two live peers', async () => {
      const infos = await Promise.all(nodes.map((n) => n.info()));
      return infos.every((i) => i.get('peers_alive') === '2');
    });
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map(stopClusterNode));
    await nats?.[Symbol.asyncDispose]();
  });

  const everywhere = (what: string, line: string, expected: string): Promise<void> =>
    eventually(`${what} on every node`, async () => (await Promise.all(nodes.map((n) => n.send(line)))).every((r) => r === expected));

  const sameHashes = async (): Promise<void> => {
    await eventually('equal HASH and MST roots everywhere', async () => {
      const hashes = await Promise.all(nodes.map((n) => n.send('HASH')));
      const roots = await Promise.all(nodes.map(async (n) => (await n.info()).get('mst_roots_digest')));
      return new Set(hashes).size === 1 && new Set(roots).size === 1;
    });
  };

  it('makes a write on one node readable on the others', async () => {
    expect(await nodes[0]!.send('SET greeting hello cluster')).toBe('OK');
    await everywhere('the write', 'GET greeting', 'VALUE hello cluster');
  });

  it('counts 1,000 concurrent increments spread over three nodes exactly', async () => {
    const perNode = [334, 333, 333];
    await Promise.all(
      nodes.map(async (node, i) => {
        // Pipelined: every INC in flight at once on each node.
        for (let k = 0; k < perNode[i]!; k++) node.client.send('INC hits');
        const replies = await node.client.readLines(perNode[i]!);
        expect(replies.every((r) => r.startsWith('VALUE '))).toBe(true);
      }),
    );
    await everywhere('the sum', 'GET hits', 'VALUE 1000');
  });

  it('replicates DEL, APPEND, PREPEND, MSET and TRUNCATE, ending with equal hashes', async () => {
    await nodes[1]!.send('MSET m1 one m2 two m3 three');
    await nodes[2]!.send('SET doomed x');
    await everywhere('MSET', 'EXISTS m1 m2 m3', 'EXISTS 3');
    // A DEL of a key its node has not seen yet is a no-op, so it must follow the SET causally.
    await everywhere('the doomed key', 'EXISTS doomed', 'EXISTS 1');
    await nodes[0]!.send('DEL doomed');
    await nodes[2]!.send('APPEND m2 -tail');
    await nodes[1]!.send('PREPEND m1 head-');
    await everywhere('DEL', 'GET doomed', 'NOT_FOUND');
    await everywhere('APPEND', 'GET m2', 'VALUE two-tail');
    await everywhere('PREPEND', 'GET m1', 'VALUE head-one');
    await sameHashes();

    expect(await nodes[2]!.send('TRUNCATE')).toBe('OK');
    await everywhere('TRUNCATE', 'DBSIZE', 'DBSIZE 0');
    expect(await nodes[0]!.send('SET after truncate')).toBe('OK');
    await everywhere('a write after TRUNCATE', 'GET after', 'VALUE truncate');
    await sameHashes();
  });

  it('stops applying remote changes while REPLICATE is disabled, and catches up when enabled', async () => {
    const c = nodes[2]!;
    expect(await c.send('REPLICATE disable')).toBe('OK');
    expect(await c.send('REPLICATE status')).toBe('REPLICATION disabled');
    await nodes[0]!.send('SET while-off from-a');
    await c.send('SET local-only from-c');
    await eventually('b to get the write', async () => (await nodes[1]!.send('GET while-off')) === 'VALUE from-a');
    expect(await c.send('GET while-off')).toBe('NOT_FOUND');
    expect(await nodes[0]!.send('GET local-only')).toBe('NOT_FOUND');

    expect(await c.send('REPLICATE enable')).toBe('OK');
    expect(await c.send('REPLICATE status')).toBe('REPLICATION enabled 3 nodes');
    await everywhere('the missed write', 'GET while-off', 'VALUE from-a');
    await everywhere('the held-back write', 'GET local-only', 'VALUE from-c');
    await sameHashes();
  });

  it('counts and skips garbage on the change subjects, and keeps replicating', async () => {
    const nc = await connect({ servers: nats.url });
    try {
      nc.publish('merklekv.merkle_kv.changes.3', randomBytes(64));
      nc.publish('merklekv.merkle_kv.changes.0', new Uint8Array([99, 1, 2, 3]));
      nc.publish('merklekv.merkle_kv.changes.7', new Uint8Array([1]));
      nc.publish('merklekv.merkle_kv.changes.9999', randomBytes(16));
      await nc.flush();
    } finally {
      await nc.close();
    }
    await eventually('every node to count the garbage', async () => {
      const infos = await Promise.all(nodes.map((n) => n.info()));
      return infos.every((i) => Number(i.get('replication_garbage')) >= 3);
    });
    await nodes[1]!.send('SET after-garbage still-fine');
    await everywhere('a write after garbage', 'GET after-garbage', 'VALUE still-fine');
  });

  it('streams changes from any node to a WATCH, and to server-sent events', async () => {
    const watcher = nodes[2]!.client;
    watcher.send('WATCH w:');
    expect(await watcher.readLine()).toBe('WATCHING w:');
    const sse = await fetch(`http://127.0.0.1:${nodes[1]!.process.ports.http}/v1/watch?prefix=w:`);
    const reader = sse.body!.getReader();
    await nodes[0]!.send('SET w:one first');
    await nodes[1]!.send('SET ignored:x no');
    await eventually('b to see the write it deletes', async () => (await nodes[1]!.send('GET w:one')) === 'VALUE first');
    await nodes[1]!.send('DEL w:one');
    // Replication deadlines as everywhere else in this file (a loaded machine can take seconds).
    expect(await watcher.readLine(REPLICATION_DEADLINE_MS)).toBe('CHANGE w:one first');
    expect(await watcher.readLine(REPLICATION_DEADLINE_MS)).toBe('DELETED w:one');
    expect(await nodes[2]!.send('stop watching')).toBe('END');
    expect(await nodes[2]!.send('PING')).toBe('PONG');

    let text = '';
    const decoder = new TextDecoder();
    await eventually('the SSE stream to carry both events', async () => {
      text += decoder.decode((await reader.read()).value);
      return text.includes('event: deleted');
    }, REPLICATION_DEADLINE_MS);
    await reader.cancel();
    expect(text).toContain('event: change\ndata: {"key":"w:one","value":"first"}');
    expect(text).not.toContain('ignored');
  });

  it('shows the cluster on HTTP', async () => {
    const view = (await (await fetch(`http://127.0.0.1:${nodes[0]!.process.ports.http}/v1/cluster`)).json()) as {
      node: { id: string; replicating: boolean };
      peers: { id: string; state: string }[];
    };
    expect(view.node).toMatchObject({ id: 'a', replicating: true });
    expect(view.peers.map((p) => [p.id, p.state]).sort()).toEqual([
      ['b', 'alive'],
      ['c', 'alive'],
    ]);
  });
});

/** Exit 0 on SIGTERM: a stop that overran the node's 4.5 s deadline would exit 1. */
async function stopsCleanly(node: ClusterNode): Promise<void> {
  await node.client.close();
  const code = await node.process.stop();
  // The node's last log lines say which part of the stop overran.
  expect({ code, logs: code === 0 ? '' : node.process.logs() }).toEqual({ code: 0, logs: '' });
}

describe('replication through outages', () => {
  it('serves while NATS is unreachable from the start, and stops promptly', async () => {
    const unused = await freePort();
    const a = await startClusterNode(`nats://127.0.0.1:${unused}`, 'a');
    try {
      expect(await a.send('SET k v')).toBe('OK');
      expect(await a.send('GET k')).toBe('VALUE v');
      expect((await a.info()).get('nats_connected')).toBe('0');
      await stopsCleanly(a);
    } finally {
      await stopClusterNode(a);
    }
  });

  it('stops promptly when NATS went away under it', async () => {
    await using nats = await startNatsServer();
    const a = await startClusterNode(nats.url, 'a');
    try {
      await a.send('SET k v');
      await nats.kill();
      await a.send('SET k2 v2');
      await stopsCleanly(a);
    } finally {
      await stopClusterNode(a);
    }
  });

  it('stops promptly when NATS went away while replication was still setting up', async () => {
    await using nats = await startNatsServer();
    const a = await startClusterNode(nats.url, 'a');
    try {
      // Right after ready, the stream and consumer are usually still being created.
      await nats.kill();
      await stopsCleanly(a);
    } finally {
      await stopClusterNode(a);
    }
  });

  it('delivers every write made while NATS was down, once, when it returns', async () => {
    await using nats = await startNatsServer();
    const a = await startClusterNode(nats.url, 'a');
    const b = await startClusterNode(nats.url, 'b');
    try {
      await a.send('SET before up');
      await eventually('b to be in sync', async () => (await b.send('GET before')) === 'VALUE up');
      await nats.stop();
      for (let i = 0; i < 50; i++) {
        // Cut off from each other, each node counts only its own increments for now.
        expect(await a.send(`INC ctr`)).toBe(`VALUE ${i + 1}`);
        expect(await b.send(`INC ctr`)).toBe(`VALUE ${i + 1}`);
        await a.send(`SET from-a-${i} ${i}`);
        await b.send(`SET from-b-${i} ${i}`);
      }
      expect(Number((await a.info()).get('outbox_depth'))).toBeGreaterThan(0);
      await nats.restart();
      await eventually('counters to converge', async () => (await a.send('GET ctr')) === 'VALUE 100' && (await b.send('GET ctr')) === 'VALUE 100', 30_000);
      // Shards apply in parallel: wait for the whole keyspace, not for one key.
      await eventually('both nodes to hold every write', async () => (await a.send('DBSIZE')) === 'DBSIZE 102' && (await b.send('DBSIZE')) === 'DBSIZE 102', 60_000);
      for (const node of [a, b]) {
        for (let i = 0; i < 50; i += 7) {
          expect(await node.send(`GET from-a-${i}`)).toBe(`VALUE ${i}`);
          expect(await node.send(`GET from-b-${i}`)).toBe(`VALUE ${i}`);
        }
      }
      await eventually('the outboxes to drain', async () => (await a.info()).get('outbox_depth') === '0' && (await b.info()).get('outbox_depth') === '0');
      expect(await a.send('HASH')).toBe(await b.send('HASH'));
    } finally {
      await stopClusterNode(a);
      await stopClusterNode(b);
    }
  });

  it('keeps an outage longer than the outbox memory window on disk, across a restart, and delivers all of it', async () => {
    await using nats = await startNatsServer();
    const dataDir = await makeTempDir('outbox-spill');
    let a = await startClusterNode(nats.url, 'a', [], dataDir);
    const b = await startClusterNode(nats.url, 'b');
    try {
      await nats.stop();
      // More distinct keys than the outbox keeps in memory (16,384): the rest wait on disk only.
      const keys = 20_000;
      for (let i = 0; i < keys; i += 100) {
        const pairs = Array.from({ length: 100 }, (_, j) => `spill-${i + j} v${i + j}`).join(' ');
        expect(await a.send(`MSET ${pairs}`)).toBe('OK');
      }
      expect(Number((await a.info()).get('outbox_depth'))).toBe(keys);
      await a.client.close();
      expect(await a.process.stop()).toBe(0);
      a = await startClusterNode(nats.url, 'a', [], dataDir);
      expect(Number((await a.info()).get('outbox_depth'))).toBe(keys);

      await nats.restart();
      await eventually('b to hold every key', async () => (await b.send('DBSIZE')) === `DBSIZE ${keys}`, 150_000);
      await eventually('the outbox to drain', async () => (await a.info()).get('outbox_depth') === '0', 60_000);
      expect(await b.send('GET spill-0')).toBe('VALUE v0');
      expect(await b.send(`GET spill-${keys - 1}`)).toBe(`VALUE v${keys - 1}`);
      expect(await a.send('HASH')).toBe(await b.send('HASH'));
    } finally {
      await stopClusterNode(a);
      await stopClusterNode(b);
      await removeDir(dataDir);
    }
  }, 300_000);

  it('lets a stopped node catch up from the stream when it restarts', async () => {
    await using nats = await startNatsServer();
    const a = await startClusterNode(nats.url, 'a');
    // The first incarnation owns the data directory (and removes it when disposed, last).
    const first = await startClusterNode(nats.url, 'b');
    let again: ClusterNode | undefined;
    try {
      await a.send('SET early 1');
      await eventually('b to be in sync', async () => (await first.send('GET early')) === 'VALUE 1');
      await first.client.close();
      expect(await first.process.stop()).toBe(0);
      for (let i = 0; i < 100; i++) await a.send(`SET missed-${i} ${i}`);
      await a.send('INC missed-counter 42');
      const b = (again = await startClusterNode(nats.url, 'b', [], first.process.dataDir));
      await eventually('b to catch up', async () => (await b.send('DBSIZE')) === 'DBSIZE 102', 60_000);
      expect(await b.send('GET missed-99')).toBe('VALUE 99');
      expect(await b.send('GET missed-counter')).toBe('VALUE 42');
      expect(await b.send('HASH')).toBe(await a.send('HASH'));
    } finally {
      await stopClusterNode(a);
      await stopClusterNode(again);
      await stopClusterNode(first);
    }
  });
});
