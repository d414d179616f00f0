import { createConnection, type Socket } from 'node:net';
import { type NodeProcess, startNode } from '#testing';
import { processRssBytes } from '../bench/lib/proc-status.js';
import { RawClient } from './support/raw-client.js';

const VALUE_BYTES = 1_000_000;
const FLOOD_BYTES = 64 * 1024;
/** Generous: the node used to buffer a reply per request, gigabytes for this flood. */
const RSS_GROWTH_LIMIT = 1024 ** 3;

function connect(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** The node's RSS growth over its idle RSS, sampled while `run` runs; past the limit the node is killed (it would take the machine). */
async function boundedRss(node: NodeProcess, run: () => Promise<void>): Promise<number> {
  const idleRss = processRssBytes(node.pid)!;
  let peakRss = idleRss;
  const watchdog = setInterval(() => {
    peakRss = Math.max(peakRss, processRssBytes(node.pid) ?? peakRss);
    if (peakRss - idleRss > RSS_GROWTH_LIMIT) void node.kill();
  }, 20);
  try {
    await run();
  } finally {
    clearInterval(watchdog);
  }
  return Math.max(peakRss, processRssBytes(node.pid) ?? peakRss) - idleRss;
}

/** One client pipelining large replies without reading must not take the node's memory or its other clients. */
describe('a connection pipelining GETs of 1 MB values without reading', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'memory'] });
    await using writer = await RawClient.connect(node.ports.merklekv);
    await writer.exchange(`SET a ${'a'.repeat(VALUE_BYTES)}\r\nSET b ${'b'.repeat(VALUE_BYTES)}\r\n`, 'OK\r\nOK\r\n');
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  it('on the text protocol: other clients are answered, the node memory stays bounded, and its replies arrive in order once it reads', async () => {
    const growth = await boundedRss(node, async () => {
      const flooder = await connect(node.ports.merklekv);
      flooder.pause();
      const requests = Math.floor(FLOOD_BYTES / 'GET a\r\nGET b\r\n'.length);
      flooder.write('GET a\r\nGET b\r\n'.repeat(requests));

      await using probe = await RawClient.connect(node.ports.merklekv);
      expect(await probe.exchange('PING\r\n', 'PONG\r\n', 60_000)).toBe('PONG\r\n');
      expect(await probe.exchange('GET a\r\n', 'VALUE ')).toBe('VALUE ');
      expect((await probe.read(VALUE_BYTES + 2, 60_000)).length).toBe(VALUE_BYTES + 2);

      // The flooder reads at last: its first replies, in request order.
      const replies = await readReplies(flooder, 6);
      expect(replies.map((reply) => reply.slice(0, 7))).toEqual(['VALUE a', 'VALUE b', 'VALUE a', 'VALUE b', 'VALUE a', 'VALUE b']);
      expect(replies.every((reply) => reply.length === 'VALUE '.length + VALUE_BYTES)).toBe(true);
      flooder.destroy();
    });
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
  });

  it('over HTTP: other requests are answered, the node memory stays bounded, and its responses arrive in order once it reads', async () => {
    const base = `http://127.0.0.1:${node.ports.http}`;
    const growth = await boundedRss(node, async () => {
      const flooder = await connect(node.ports.http);
      flooder.pause();
      const pair = 'GET /v1/kv/a HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/kv/b HTTP/1.1\r\nHost: x\r\n\r\n';
      flooder.write(pair.repeat(Math.floor(FLOOD_BYTES / pair.length)));

      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await (await fetch(`${base}/v1/kv/a`)).arrayBuffer()).byteLength).toBe(VALUE_BYTES);

      const bodies = await readHttpBodies(flooder, 4);
      expect(bodies.map((body) => [body.length, body[0]])).toEqual([
        [VALUE_BYTES, 0x61],
        [VALUE_BYTES, 0x62],
        [VALUE_BYTES, 0x61],
        [VALUE_BYTES, 0x62],
      ]);
      flooder.destroy();
    });
    expect(growth).toBeLessThan(RSS_GROWTH_LIMIT);
  });
});

/** The bodies of the next `count` responses (each with a content-length) of a paused socket (resumes it). */
async function readHttpBodies(socket: Socket, count: number): Promise<Buffer[]> {
  const bodies: Buffer[] = [];
  let pending = Buffer.alloc(0);
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        const headerEnd = pending.indexOf('\r\n\r\n');
        if (headerEnd < 0 || bodies.length === count) break;
        const length = Number(/content-length: (\d+)/i.exec(pending.subarray(0, headerEnd).toString('latin1'))?.[1]);
        if (pending.length < headerEnd + 4 + length) break;
        bodies.push(pending.subarray(headerEnd + 4, headerEnd + 4 + length));
        pending = pending.subarray(headerEnd + 4 + length);
      }
      if (bodies.length === count) {
        socket.off('data', onData);
        socket.pause();
        resolve(bodies);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`connection closed after ${bodies.length} responses`)));
    socket.resume();
  });
}

/** The next `count` reply lines of a paused socket (resumes it). */
async function readReplies(socket: Socket, count: number): Promise<string[]> {
  const lines: string[] = [];
  let pending = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      pending += chunk.toString('latin1');
      let end: number;
      while (lines.length < count && (end = pending.indexOf('\r\n')) >= 0) {
        lines.push(pending.slice(0, end));
        pending = pending.slice(end + 2);
      }
      if (lines.length === count) {
        socket.off('data', onData);
        socket.pause();
        resolve(lines);
      }
    };
    socket.on('data', onData);
    socket.once('close', () => reject(new Error(`connection closed after ${lines.length} replies`)));
    socket.resume();
  });
}
