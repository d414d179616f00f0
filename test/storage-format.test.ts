import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, removeDir, repoRoot, startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

/**
 * A data directory written by the release before disk-first storage (format 1: `fixtures/data-dir-v1`,
 * made by that release's node with `--shards 4 --node-id fixture`) opens, is upgraded once, and
 * reads back every key, the same HASH and the same counts as that release answered.
 */
describe('storage format', () => {
  it('opens a data directory of the previous release, upgrades it once, and serves it unchanged', async () => {
    const dataDir = await makeTempDir('format-v1');
    try {
      cpSync(join(repoRoot(), 'test/fixtures/data-dir-v1'), dataDir, { recursive: true });
      const args = ['--engine', 'rocksdb', '--shards', '4'];
      {
        await using node = await startNode({ dataDir, args });
        expect(node.logs()).toContain('upgrading the data directory');
        await using client = await RawClient.connect(node.ports.merklekv);
        // What the previous release answered for the same directory.
        const transcript: [string, string][] = [
          ['GET alpha\r\n', 'VALUE one-more\r\n'],
          ['GET beta\r\n', 'VALUE two words\r\n'],
          ['GET counter\r\n', 'VALUE 3\r\n'],
          ['GET gone\r\n', 'NOT_FOUND\r\n'],
          ['GET unicode\r\n', 'VALUE h\u00e9llo\r\n'],
          ['MGET k1 k2 k3\r\n', 'VALUES 3\r\nk1 v1\r\nk2 v2\r\nk3 v3\r\n'],
          ['HASH\r\n', 'HASH 8b9bd30dd5fd2ba0f5ebf49185edb2db688b3af492c0b69322cef0d9f72be22d\r\n'],
          ['DBSIZE\r\n', 'DBSIZE 7\r\n'],
          ['MEMORY\r\n', 'MEMORY 2252\r\n'],
          ['SCAN\r\n', 'KEYS 7\r\nalpha\r\nbeta\r\ncounter\r\nk1\r\nk2\r\nk3\r\nunicode\r\n'],
          ['INC counter\r\n', 'VALUE 4\r\n'],
        ];
        for (const [request, reply] of transcript) expect(await client.exchange(request, reply)).toBe(reply);
      }
      await using again = await startNode({ dataDir, args });
      expect(again.logs()).not.toContain('upgrading the data directory');
      await using client = await RawClient.connect(again.ports.merklekv);
      expect(await client.exchange('GET counter\r\n', 'VALUE 4\r\n')).toBe('VALUE 4\r\n');
      expect(await client.exchange('DBSIZE\r\n', 'DBSIZE 7\r\n')).toBe('DBSIZE 7\r\n');
    } finally {
      await removeDir(dataDir);
    }
  });
});
