import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type PersistOp, RocksDbEngine } from '#store';

const put = (key: string, value: string | Uint8Array, shard = 0): PersistOp => ({
  type: 'put',
  shard,
  key,
  value: typeof value === 'string' ? Buffer.from(value) : value,
});
const read = (engine: RocksDbEngine, key: string, shard = 0): string | undefined => {
  const value = engine.getEntries([shard], [key])[0];
  return value && Buffer.from(value).toString('utf8');
};

describe('RocksDB writes on the write thread', () => {
  let dir: string;
  let engine: RocksDbEngine;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'merklekv-writer-'));
    engine = new RocksDbEngine(dir);
    await engine.open();
  });
  afterEach(async () => {
    await engine.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('applies batches given without waiting in the order they were given', async () => {
    const writes = [
      engine.write([put('k', 'one'), put('other', 'x')], false),
      engine.write([put('k', 'two')], true),
      engine.write([{ type: 'del', shard: 0, key: 'k' }], false),
      engine.write([put('k', 'three')], true),
    ];
    await Promise.all(writes);
    expect(read(engine, 'k')).toBe('three');
    expect(read(engine, 'other')).toBe('x');
  });

  it('writes every kind of record, empty and large values and non-ASCII keys as given', async () => {
    const large = Buffer.alloc(3 * 1024 * 1024, 7);
    await engine.write(
      [
        put('', 'empty key'),
        put('é🙂', ''),
        put('big', large, 9),
        { type: 'meta-put', name: 'ünïcode', value: Buffer.from('meta') },
        { type: 'outbox-put', seq: 2n ** 40n, value: Buffer.from('change') },
      ],
      true,
    );
    expect(read(engine, '')).toBe('empty key');
    expect(read(engine, 'é🙂')).toBe('');
    expect(Buffer.compare(Buffer.from(engine.getEntries([9], ['big'])[0]!), large)).toBe(0);
    expect(Buffer.from(engine.getMeta('ünïcode')!).toString()).toBe('meta');
    expect(engine.outboxRecords(undefined, 10).map((r) => [r.seq, Buffer.from(r.value).toString()])).toEqual([[2n ** 40n, 'change']]);
  });

  it('closes only once the batches in flight are written, and they are there at the next open', async () => {
    const writes = Array.from({ length: 50 }, (_, i) => engine.write([put(`key${i}`, `value${i}`)], i % 2 === 0));
    await engine.close();
    await Promise.all(writes);
    engine = new RocksDbEngine(dir);
    await engine.open();
    for (let i = 0; i < 50; i++) expect(read(engine, `key${i}`)).toBe(`value${i}`);
  });

  it('keeps writing after the database is reopened by a recovery', async () => {
    await engine.write([put('before', '1')], true);
    await engine.recover();
    await engine.write([put('after', '2')], true);
    expect([read(engine, 'before'), read(engine, 'after')]).toEqual(['1', '2']);
  });

  it('refuses a batch once the engine is closed', async () => {
    await engine.close();
    await expect(engine.write([put('late', 'x')], true)).rejects.toMatchObject({ code: 'STORAGE' });
  });
});
