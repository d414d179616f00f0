import { type NodeProcess, startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

/** Long enough for many timeouts of one second: the deadline of each wait, not a timing claim. */
const DEADLINE_MS = 20_000;

/** Idle connections are closed (client_idle_timeout_seconds), on the text port and HTTP keep-alive; watchers are not idle. */
describe('client idle timeout', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'memory'], env: { MERKLEKV_CLIENT_IDLE_TIMEOUT: '1' } });
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  it('closes an idle MerkleKV connection', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    expect(await client.exchange('PING\r\n', 'PONG\r\n')).toBe('PONG\r\n');
    await client.waitClosed(DEADLINE_MS);
  });

  it('closes a MerkleKV connection that trickles a request one byte at a time', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    const deadline = Date.now() + DEADLINE_MS;
    while (!client.closed && Date.now() < deadline) {
      client.write('x');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(client.closed).toBe(true);
  });

  it('keeps a MerkleKV watcher and an HTTP event stream open while they wait for events', async () => {
    await using watcher = await RawClient.connect(node.ports.merklekv);
    expect(await watcher.exchange('WATCH w:\r\n', 'WATCHING w:\r\n')).toBe('WATCHING w:\r\n');
    await using stream = await RawClient.connect(node.ports.http);
    stream.write('GET /v1/watch?prefix=w: HTTP/1.1\r\nHost: t\r\n\r\n');
    const head = await stream.read('HTTP/1.1 200'.length);
    expect(head).toBe('HTTP/1.1 200');

    // Once a connection opened after both has been closed as idle, they have been waiting longer.
    await using idle = await RawClient.connect(node.ports.merklekv);
    await idle.waitClosed(DEADLINE_MS);
    expect(watcher.closed).toBe(false);
    expect(stream.closed).toBe(false);

    await using writer = await RawClient.connect(node.ports.merklekv);
    await writer.exchange('SET w:1 still-here\r\n', 'OK\r\n');
    expect(await watcher.read('CHANGE w:1 still-here\r\n'.length)).toBe('CHANGE w:1 still-here\r\n');
    await stream.readUntil('still-here');
  });

  it('closes an idle HTTP keep-alive connection', async () => {
    await using client = await RawClient.connect(node.ports.http);
    client.write('GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n');
    expect(await client.read('HTTP/1.1 200'.length)).toBe('HTTP/1.1 200');
    await client.waitClosed(DEADLINE_MS);
  });

  it('closes an HTTP connection that never sends a request', async () => {
    await using client = await RawClient.connect(node.ports.http);
    await client.waitClosed(DEADLINE_MS);
  });
});
