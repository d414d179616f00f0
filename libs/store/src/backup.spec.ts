import { assign, decodeEntry } from '#crdt';
import { toHex } from '#mst';
import { BackupDecoder, type BackupFrame, BackupRoots } from './backup.js';
import { MemoryEngine } from './memory-engine.js';
import { Store } from './store.js';
import { verifyStore } from './verify.js';

async function filled(): Promise<Store> {
  const store = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'n1' });
  for (let i = 0; i < 100; i++) await store.update(`k${i}`, (prev, stamp) => assign(prev, Buffer.from(`v${i}`), stamp));
  return store;
}

describe('backup frames', () => {
  it('decode whatever the chunking, and restore into an empty store with the same shard roots', async () => {
    const source = await filled();
    const bytes = Buffer.concat([...source.backup()]);
    // Cut the stream at every 7th byte: frames span chunks.
    const decoder = new BackupDecoder();
    const frames: BackupFrame[] = [];
    for (let at = 0; at < bytes.length; at += 7) frames.push(...decoder.push(bytes.subarray(at, at + 7)));
    decoder.finish();
    expect(frames[0]).toMatchObject({ kind: 'header', header: { format: 1, nodeId: 'n1', shards: 4 } });
    expect(frames.at(-1)).toEqual({ kind: 'end', entries: 100 });

    const roots = new BackupRoots();
    frames.forEach((frame) => roots.add(frame));
    const expected = Array.from({ length: 4 }, (_, shard) => toHex(source.shardRoot(shard)));
    expect(roots.roots(4)).toEqual(expected);

    const target = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'n2', outbox: false });
    await Promise.all(frames.flatMap((frame) => (frame.kind === 'entry' ? [target.merge(frame.key, decodeEntry(frame.record))] : [])));
    expect(Array.from({ length: 4 }, (_, shard) => toHex(target.shardRoot(shard)))).toEqual(expected);
    await Promise.all([source.close(), target.close()]);
  });

  it('refuse a stream cut short', async () => {
    const source = await filled();
    const bytes = Buffer.concat([...source.backup()]);
    const decoder = new BackupDecoder();
    decoder.push(bytes.subarray(0, bytes.length - 3));
    expect(() => decoder.finish()).toThrow(/incomplete/);
    await source.close();
  });
});

describe('verifyStore', () => {
  it('passes a consistent store and names the shard whose entry was lost behind its tree', async () => {
    const engine = new MemoryEngine();
    const store = await Store.open({ engine, shards: 4, nodeId: 'n1', checkpointDelayMs: 0 });
    for (let i = 0; i < 50; i++) await store.update(`k${i}`, (prev, stamp) => assign(prev, Buffer.from(`v${i}`), stamp));
    await store.close();
    expect(verifyStore(engine).ok).toBe(true);

    const key = 'k7';
    const shard = store.shardOf(key);
    // The record lost behind the store's back: its tree still covers it.
    await engine.write([{ type: 'del', shard, key }], true);
    const report = verifyStore(engine);
    expect(report.ok).toBe(false);
    expect(report.verdicts.filter((v) => !v.ok).map((v) => v.shard)).toEqual([shard]);
  });
});
