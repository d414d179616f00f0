import { randomBytes } from 'node:crypto';
import { startNode, type NodeProcess } from '#testing';
import { RawClient } from './support/raw-client.js';

const LIMIT = 1024 * 1024;

/** Hostile and heavy input: the node answers precisely, closes what it must, and keeps serving. */
describe('robustness of the MerkleKV endpoint', () => {
  let node: NodeProcess;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'rocksdb'] });
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  const stillServes = async (): Promise<void> => {
    await using probe = await RawClient.connect(node.ports.merklekv);
    expect(await probe.exchange('PING\r\n', 'PONG\r\n')).toBe('PONG\r\n');
  };

  it('stores values with tabs, emoji, 16 KiB of multi-byte UTF-8 and 1 MiB lines', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    const values = [
      'a\tb\t\tc',
      '🚀 emoji 👩‍👩‍👧 mixed',
      'ж'.repeat(8192),
      // The longest value whose SET line is exactly the limit, counting "\n".
      'x'.repeat(LIMIT - 'SET big '.length - 1),
    ];
    for (const [i, value] of values.entries()) {
      const key = i === 3 ? 'big' : `v${i}`;
      expect(await client.exchange(`SET ${key} ${value}\n`, 'OK\r\n')).toBe('OK\r\n');
      expect(await client.exchange(`GET ${key}\r\n`, `VALUE ${value}\r\n`)).toBe(`VALUE ${value}\r\n`);
    }
  });

  it('answers a line of 1 MiB + 1 with ERROR line too long and closes, serving others', async () => {
    await using bystander = await RawClient.connect(node.ports.merklekv);
    await using client = await RawClient.connect(node.ports.merklekv);
    const line = `SET k ${'y'.repeat(LIMIT - 'SET k '.length)}\n`;
    expect(Buffer.byteLength(line)).toBe(LIMIT + 1);
    client.write(line);
    expect(await client.read(100)).toBe('ERROR line too long\r\n');
    await client.waitClosed();
    expect(await bystander.exchange('GET k\r\n', 'NOT_FOUND\r\n')).toBe('NOT_FOUND\r\n');
  });

  it('closes on invalid UTF-8 without a reply, after answering what came before', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    client.write(Buffer.concat([Buffer.from('PING\r\nSET k \xff\xfe\r\n', 'latin1')]));
    expect(await client.read(100)).toBe('PONG\r\n');
    await client.waitClosed();
    await stillServes();
  });

  it('survives random binary garbage on many connections', async () => {
    for (let round = 0; round < 20; round++) {
      await using client = await RawClient.connect(node.ports.merklekv);
      client.write(randomBytes(4096 + round * 1000));
      client.write('\r\n');
      await new Promise((r) => setTimeout(r, 5));
    }
    await stillServes();
  });

  it('serves 1,000 concurrent connections', async () => {
    const clients = await Promise.all(Array.from({ length: 1000 }, () => RawClient.connect(node.ports.merklekv)));
    try {
      const replies = await Promise.all(clients.map((c, i) => c.exchange(`SET c${i} ${i}\r\n`, 'OK\r\n')));
      expect(replies.every((r) => r === 'OK\r\n')).toBe(true);
      const reads = await Promise.all(clients.map((c, i) => c.exchange(`GET c${(i + 1) % 1000}\r\n`, `VALUE ${(i + 1) % 1000}\r\n`)));
      expect(reads.every((r, i) => r === `VALUE ${(i + 1) % 1000}\r\n`)).toBe(true);
    } finally {
      await Promise.all(clients.map((c) => c[Symbol.asyncDispose]()));
    }
    await stillServes();
  });
});
