import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RocksDbEngine } from './rocksdb-engine.js';

/** Bytes of one value that no reused batch keeps the capacity of (more than 4 MiB). */
const OVERSIZED_BYTES = 5 * 2 ** 20;

describe('RocksDbEngine writes (one reused batch)', () => {
  let dir: string;
  let engine: RocksDbEngine;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-engine-'));
    engine = new RocksDbEngine(dir);
    await engine.open();
  });

  afterEach(async () => {
    await engine.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const value = (n: number, bytes = 16): Uint8Array => new Uint8Array(bytes).fill(n % 256);

  it('lands each write alone: nothing of a write is written again by the next, deletions included', async () => {
    await engine.write([{ type: 'put', shard: 0, key: 'a', value: value(1) }], true);
    await engine.write([{ type: 'put', shard: 0, key: 'b', value: value(2) }], true);
    await engine.write([{ type: 'del', shard: 0, key: 'a' }], false);
    // A plain Uint8Array (not a Buffer) is stored byte for byte.
    await engine.write([{ type: 'put', shard: 1, key: 'c', value: Uint8Array.from([0, 1, 2, 255]) }], true);
    await engine.write([{ type: 'put', shard: 0, key: 'a', value: value(3) }], false);
    expect(engine.getEntries([0, 0, 1, 0], ['a', 'b', 'c', 'zzz'])).toEqual([value(3), value(2), Uint8Array.from([0, 1, 2, 255]), undefined]);
  });

  it('carries on after a write larger than the batch keeps, and after a reopen', async () => {
    await engine.write([{ type: 'put', shard: 2, key: 'big', value: value(7, OVERSIZED_BYTES) }], true);
    await engine.write([{ type: 'put', shard: 2, key: 'small', value: value(8) }], true);
    await engine.recover();
    await engine.write([{ type: 'meta-put', name: 'after-reopen', value: value(9) }], true);
    const [big, small] = engine.getEntries([2, 2], ['big', 'small']);
    expect(big?.length).toBe(OVERSIZED_BYTES);
    expect(big?.every((byte) => byte === 7)).toBe(true);
    expect(small).toEqual(value(8));
    expect(engine.getMeta('after-reopen')).toEqual(value(9));
  });

  it('refuses a write once closed, instead of reaching the closed database through its batch', async () => {
    await engine.write([{ type: 'put', shard: 0, key: 'a', value: value(1) }], true);
    await engine.close();
    await expect(engine.write([{ type: 'put', shard: 0, key: 'b', value: value(2) }], true)).rejects.toMatchObject({ code: 'STORAGE' });
    await engine.open();
    expect(engine.getEntries([0, 0], ['a', 'b'])).toEqual([value(1), undefined]);
  });
});
