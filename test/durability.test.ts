import { startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

/** Acknowledged writes outlive a clean restart and a SIGKILL (engine rocksdb). */
describe('durability', () => {
  it('keeps every acknowledged write across SIGTERM and SIGKILL restarts', async () => {
    await using first = await startNode({ args: ['--engine', 'rocksdb', '--node-id', 'durable'] });
    const dataDir = first.dataDir;
    const written = new Map<string, string>();
    {
      await using client = await RawClient.connect(first.ports.merklekv);
      for (let i = 0; i < 200; i++) {
        const value = `v${i}-${'é'.repeat(i % 7)}`;
        await client.exchange(`SET key${i} ${value}\r\n`, 'OK\r\n');
        written.set(`key${i}`, value);
      }
      await client.exchange('INC counter 41\r\n', 'VALUE 41\r\n');
      await client.exchange('DEL key0\r\n', 'DELETED\r\n');
      written.delete('key0');
    }
    expect(await first.stop('SIGTERM')).toBe(0);

    await using second = await startNode({ dataDir, args: ['--engine', 'rocksdb', '--node-id', 'durable'] });
    {
      await using client = await RawClient.connect(second.ports.merklekv);
      for (const [key, value] of written) expect(await client.exchange(`GET ${key}\r\n`, `VALUE ${value}\r\n`)).toBe(`VALUE ${value}\r\n`);
      expect(await client.exchange('GET key0\r\n', 'NOT_FOUND\r\n')).toBe('NOT_FOUND\r\n');
      expect(await client.exchange('INC counter\r\n', 'VALUE 42\r\n')).toBe('VALUE 42\r\n');
      // Pipelined writes, each acknowledged, then SIGKILL with no chance to flush.
      const burst = Array.from({ length: 500 }, (_, i) => `SET burst${i} ${i}\r\n`).join('');
      expect(await client.exchange(burst, 'OK\r\n'.repeat(500))).toBe('OK\r\n'.repeat(500));
    }
    expect(await second.kill()).not.toBe(0);

    await using third = await startNode({ dataDir, args: ['--engine', 'rocksdb', '--node-id', 'durable'] });
    await using client = await RawClient.connect(third.ports.merklekv);
    for (let i = 0; i < 500; i += 37) expect(await client.exchange(`GET burst${i}\r\n`, `VALUE ${i}\r\n`)).toBe(`VALUE ${i}\r\n`);
    expect(await client.exchange('GET burst499\r\n', 'VALUE 499\r\n')).toBe('VALUE 499\r\n');
    expect(await client.exchange('DBSIZE\r\n', 'DBSIZE 700\r\n')).toBe('DBSIZE 700\r\n');
  });

  it('forgets everything on restart with an in-memory engine', async () => {
    await using first = await startNode({ args: ['--engine', 'memory'] });
    {
      await using client = await RawClient.connect(first.ports.merklekv);
      await client.exchange('SET k v\r\n', 'OK\r\n');
    }
    expect(await first.stop()).toBe(0);
    await using second = await startNode({ dataDir: first.dataDir, args: ['--engine', 'memory'] });
    await using client = await RawClient.connect(second.ports.merklekv);
    expect(await client.exchange('GET k\r\n', 'NOT_FOUND\r\n')).toBe('NOT_FOUND\r\n');
  });
});
