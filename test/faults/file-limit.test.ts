import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { eventually, startNatsServer, TextClient } from '#testing';
import { type ClusterNode, startClusterNode } from '../support/cluster.js';
import { expectConverged, FAST_ANTI_ENTROPY, moreAcked, stopAll, waitForPeers, Writer } from './support.js';

/** Low enough that the test's idle connections exhaust it in a moment. */
const FILE_LIMIT = 512;
/** Values that push RocksDB past its 64 MiB memtable, so it must open a new table and log. */
const BULK_VALUE_BYTES = 256 * 1024;
const BULK_VALUES = 320;

const openFiles = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;

/** Connects to `port` until the node at `pid` holds `limit - spare` descriptors (or no longer accepts). */
async function exhaustDescriptors(port: number, pid: number, limit: number, spare: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  while (openFiles(pid) < limit - spare && sockets.length < limit) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    sockets.push(socket);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return sockets;
}

describe('a node out of file descriptors', () => {
  it('refuses writes while RocksDB cannot open files, takes them again once connections close, and loses nothing', async () => {
    await using nats = await startNatsServer();
    const acked = new Map<string, string>();
    const nodes: ClusterNode[] = [];
    const writers: Writer[] = [];
    let idle: Socket[] = [];
    try {
      nodes.push(await startClusterNode(nats.url, 'a', FAST_ANTI_ENTROPY));
      // prlimit execs the node itself, so its pid and signals are the node's.
      nodes.push(await startClusterNode(nats.url, 'b', FAST_ANTI_ENTROPY, undefined, undefined, ['prlimit', `--nofile=${FILE_LIMIT}:${FILE_LIMIT}`, '--']));
      await waitForPeers(nodes);
      const [a, b] = nodes as [ClusterNode, ClusterNode];
      writers.push(new Writer('a', () => TextClient.connect(a.process.ports.merklekv), acked), new Writer('b', () => TextClient.connect(b.process.ports.merklekv), acked));
      await moreAcked(acked, 200, 'before the descriptors run out');

      await using bulk = await TextClient.connect(b.process.ports.merklekv, { timeoutMs: 30_000 });
      // Heard as they come: the refused reply may reach this process before the log line the
      // node wrote first (socket and pipe are read apart), and the failure may come while the
      // descriptors run out (a flush of the other writer's keys needs a file too).
      const health: string[] = [];
      const stopListening = b.process.onLine((line) => {
        if (line.includes('storage writes fail') || line.includes('storage writes resumed')) health.push(line);
      });
      idle = await exhaustDescriptors(b.process.ports.merklekv, b.process.pid, FILE_LIMIT, 4);
      let refused: string | undefined;
      for (let i = 0; i < BULK_VALUES && refused === undefined; i++) {
        const value = randomBytes(BULK_VALUE_BYTES / 2).toString('hex');
        const reply = await bulk.request(`SET bulk-${i} ${value}`);
        if (reply === 'OK') acked.set(`bulk-${i}`, value);
        else refused = reply;
      }
      expect(refused).toMatch(/^ERROR .*(storage write failed|storage unavailable).*(Too many open files|cannot open files)/i);
      await eventually('b to log that its storage writes fail', () => health.some((l) => l.includes('storage writes fail')), 5_000);

      for (const socket of idle) socket.destroy();
      idle = [];
      await eventually('writes to resume on b once its connections closed', async () => (await bulk.request('SET bulk-after yes')) === 'OK', 30_000);
      acked.set('bulk-after', 'yes');
      await eventually('b to log that its storage writes resumed', () => health.some((l) => l.includes('storage writes resumed')), 5_000);
      stopListening();
      await moreAcked(acked, 200, 'after the descriptors came back');
      await expectConverged('out of file descriptors', nodes, writers, acked);
    } finally {
      for (const socket of idle) socket.destroy();
      await stopAll(writers, nodes);
    }
  });
});
