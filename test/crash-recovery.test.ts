import { entryDigest } from '#crdt';
import { MerkleSearchTree, toHex } from '#mst';
import { RocksDbEngine, Store } from '#store';
import { startNode, TextClient } from '#testing';

const SHARDS = 4;
const ARGS = ['--engine', 'rocksdb', '--shards', String(SHARDS), '--node-id', 'crash'];

/**
 * kill -9 in the middle of a stream of writes: every acknowledged write is on disk, and the
 * stored Merkle Search Trees, with the keys their markers name, cover exactly the stored entries.
 */
describe('crash recovery', () => {
  it('keeps every acknowledged write and a stored tree that matches the entries after kill -9', async () => {
    await using node = await startNode({ args: ARGS });
    const dataDir = node.dataDir;
    const acked = new Map<string, string | null>();
    /** Writes sent but not answered when the node died: they may or may not have landed. */
    const unanswered = new Map<string, string | null>();
    let stop = false;
    let writes = 0;
    // Four connections, each pipelining batches of sets and some deletes until the kill.
    const writers = Array.from({ length: 4 }, async (_, conn) => {
      const client = await TextClient.connect(node.ports.merklekv, { timeoutMs: 10_000 });
      let batch: [string, string | null][] = [];
      let answered = 0;
      try {
        for (let round = 0; !stop; round++) {
          batch = [];
          answered = 0;
          for (let i = 0; i < 50; i++) {
            const key = `c${conn}-k${(round * 50 + i) % 3000}`;
            const value = i % 10 === 9 ? null : `r${round}-${i}`;
            batch.push([key, value]);
            client.send(value === null ? `DEL ${key}` : `SET ${key} ${value}`);
          }
          for (const [key, value] of batch) {
            const reply = await client.readLine();
            if (value === null ? reply !== 'DELETED' && reply !== 'NOT_FOUND' : reply !== 'OK') throw new Error(`unexpected reply ${reply}`);
            acked.set(key, value);
            answered++;
            writes++;
          }
        }
      } catch {
        // The kill closes the connection mid-batch: what was not answered was not acknowledged.
        for (const [key, value] of batch.slice(answered)) unanswered.set(key, value);
      } finally {
        await client[Symbol.asyncDispose]();
      }
    });
    // Enough writes, and long enough for tree checkpoints (five seconds apart), then the kill
    // while batches are in flight.
    const started = Date.now();
    const deadline = started + 60_000;
    while ((writes < 40_000 || Date.now() - started < 12_000) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(writes).toBeGreaterThanOrEqual(40_000);
    await node.kill();
    stop = true;
    await Promise.all(writers);

    // Open the directory as the restarting node does, before anything else touches it.
    const store = await Store.open({ engine: new RocksDbEngine(dataDir), shards: SHARDS });
    for (let shard = 0; shard < SHARDS; shard++) {
      const pairs = [...store.shardEntries(shard)].map(([key, entry]) => [Buffer.from(key, 'utf8'), entryDigest(entry)] as const);
      expect(toHex(store.shardRoot(shard))).toBe(toHex(MerkleSearchTree.fromEntries(pairs).root()));
    }
    let live = 0;
    for (let shard = 0; shard < SHARDS; shard++) for (const [, entry] of store.shardEntries(shard)) if (entry.type !== 'tombstone') live++;
    expect(store.liveKeys).toBe(live);
    await store.close();

    await using again = await startNode({ dataDir, args: ARGS });
    await using client = await TextClient.connect(again.ports.merklekv, { timeoutMs: 10_000 });
    const keys = [...acked.keys()];
    for (let i = 0; i < keys.length; i += 500) {
      const chunk = keys.slice(i, i + 500);
      for (const key of chunk) client.send(`GET ${key}`);
      const replies = await client.readLines(chunk.length);
      const reply = (value: string | null | undefined): string => (value === null ? 'NOT_FOUND' : `VALUE ${value}`);
      chunk.forEach((key, j) => {
        const allowed = [reply(acked.get(key))];
        if (unanswered.has(key)) allowed.push(reply(unanswered.get(key)));
        expect([key, allowed.includes(replies[j]!)]).toEqual([key, true]);
      });
    }
  });
});
