import { startMemcached } from './memcached.js';
import { isProcessAlive } from './process.js';
import { TextClient } from './text-client.js';

describe('startMemcached', () => {
  it('starts memcached on a free port, serves set/get, and stops it on dispose', async () => {
    let pid: number;
    {
      await using memcached = await startMemcached();
      pid = memcached.pid;
      expect(isProcessAlive(pid)).toBe(true);
      await using client = await TextClient.connect(memcached.port);
      client.write('set greeting 0 0 5\r\nhello\r\n');
      expect(await client.readLine()).toBe('STORED');
      client.send('get greeting');
      expect(await client.readUntil('END')).toEqual(['VALUE greeting 0 5', 'hello', 'END']);
      expect(await client.request('get missing')).toBe('END');
    }
    expect(isProcessAlive(pid)).toBe(false);
  }, 20_000);

  it('retries on a port collision only when it picked the port itself', async () => {
    await using first = await startMemcached();
    await expect(startMemcached({ port: first.port, readyTimeoutMs: 5_000 })).rejects.toMatchObject({ code: 'EXITED_EARLY' });
  }, 20_000);
});
