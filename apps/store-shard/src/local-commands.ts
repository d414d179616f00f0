import { type ClientRegistry, type ClusterPort, CommandExecutor, type CommandStats, mstRootsDigest, type PeerSync, tracedKeyspace } from '#commands';
import { type NodeConfig } from '#config';
import { type Keyspace, type Store } from '#store';
import { type Tracing } from '#telemetry';
import { type NodeLifecycle } from '../../shared/src/lifecycle.js';
import { type MemoryPressure } from '../../shared/src/memory-pressure.js';
import { serverPort } from '../../shared/src/server-port.js';

export interface LocalCommandsDeps {
  readonly store: Store;
  readonly stats: CommandStats;
  readonly clients: ClientRegistry;
  readonly lifecycle: NodeLifecycle;
  readonly config: NodeConfig;
  readonly cluster: ClusterPort | undefined;
  /** What SYNC runs on a standalone node; a clustered process syncs through its cluster port. */
  readonly peerSync?: PeerSync | undefined;
  readonly tracing: Tracing;
  readonly pressure: MemoryPressure;
}

/** The command layer over `keyspace` (the whole store, or one shard of it) of this process's store. */
export function localCommands(
  keyspace: Keyspace,
  { store, stats, clients, lifecycle, config, cluster, peerSync = cluster, tracing, pressure }: LocalCommandsDeps,
): CommandExecutor {
  return new CommandExecutor({
    refusal: () => pressure.refusal,
    store: tracedKeyspace(keyspace, tracing, store.shardCount),
    stats,
    clients,
    ...(cluster ? { cluster } : {}),
    ...(peerSync ? { peerSync } : {}),
    limits: { maxValueBytes: config.maxValueBytes },
    server: serverPort(lifecycle, () => [
      ['node_id', store.nodeId],
      ['engine', store.engineKind],
      ['shards', String(store.shardCount)],
      ['connected_clients', String(clients.activeCount)],
      ['mst_roots_digest', mstRootsDigest(Array.from({ length: store.shardCount }, (_, shard) => store.shardRoot(shard)))],
      ...(cluster ? cluster.describe() : [['role', 'standalone'] as const]),
    ]),
  });
}
