import { type Store } from '#store';
import { type Metrics } from '#telemetry';

/**
 * The store's figures per hosted shard, read at scrape time: live keys, their bytes, the MST's
 * height; and the storage engine's own memory, which the JS heap figures do not show.
 */
export function storeMetrics(metrics: Metrics, store: Store, hosted: readonly number[]): void {
  const shards = hosted.map((shard) => ({ shard, label: { shard: String(shard) }, keyspace: store.scope([shard]) }));
  metrics.gauge({
    name: 'shard_keys',
    help: 'Live keys per shard.',
    labels: ['shard'],
    collect: (report) => shards.forEach(({ label, keyspace }) => report(keyspace.liveKeys, label)),
  });
  metrics.gauge({
    name: 'shard_bytes',
    help: 'Key and value bytes of the live entries, per shard.',
    labels: ['shard'],
    collect: (report) => shards.forEach(({ label, keyspace }) => report(keyspace.dataBytes, label)),
  });
  metrics.gauge({
    name: 'mst_height',
    help: "Layers of each shard's Merkle Search Tree (its root's layer + 1).",
    labels: ['shard'],
    collect: (report) => shards.forEach(({ shard, label }) => report(store.shardHeight(shard), label)),
  });
  metrics.gauge({
    name: 'storage_engine_bytes',
    help: "Bytes the storage engine holds outside the JS heap: RocksDB's block cache, memtables and table readers.",
    collect: (report) => report(store.engineMemoryBytes, {}),
  });
}
