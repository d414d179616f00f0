import { Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { createHash } from 'node:crypto';
import { ClientRegistry, type ClusterPort, CommandExecutor, CommandStats } from '#commands';
import { type NodeConfig } from '#config';
import { Store } from '#store';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { CLUSTER_PORT, NODE_CONFIG } from '../../shared/src/tokens.js';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { ClusterController } from './http/cluster.controller.js';
import { HealthController } from './http/health.controller.js';
import { KvController } from './http/kv.controller.js';
import { KvErrorFilter } from './http/kv-error.filter.js';
import { WatchController } from './http/watch.controller.js';
import { MerkleKvTcpServer } from './merklekv/tcp-server.js';
import { NODE_VERSION } from '../../shared/src/version.js';

function createExecutor(
  store: Store,
  stats: CommandStats,
  clients: ClientRegistry,
  lifecycle: NodeLifecycle,
  config: NodeConfig,
  cluster: ClusterPort | undefined,
): CommandExecutor {
  return new CommandExecutor({
    store,
    stats,
    clients,
    ...(cluster ? { cluster } : {}),
    limits: { maxValueBytes: config.maxValueBytes },
    server: {
      version: NODE_VERSION,
      startedAt: lifecycle.startedAt,
      requestShutdown: () => lifecycle.requestShutdown(),
      describe: () => [
        ['node_id', store.nodeId],
        ['engine', store.engineKind],
        ['shards', String(store.shardCount)],
        ['connected_clients', String(clients.activeCount)],
        ['mst_roots_digest', mstRootsDigest(store)],
        ...(cluster ? cluster.describe() : [['role', 'standalone'] as const]),
      ],
    },
  });
}

/** One hash over every shard's MST root: equal on two nodes exactly when their stores are. */
function mstRootsDigest(store: Store): string {
  const hash = createHash('sha256');
  for (let shard = 0; shard < store.shardCount; shard++) hash.update(store.shardRoot(shard));
  return hash.digest('hex');
}

/** The protocol front ends: MerkleKV text on TCP and HTTP/JSON, over one command layer. */
@Module({
  imports: [StoreShardModule],
  controllers: [KvController, HealthController, ClusterController, WatchController],
  providers: [
    { provide: CommandStats, useValue: new CommandStats() },
    { provide: ClientRegistry, useValue: new ClientRegistry() },
    {
      provide: CommandExecutor,
      useFactory: createExecutor,
      inject: [Store, CommandStats, ClientRegistry, NodeLifecycle, NODE_CONFIG, { token: CLUSTER_PORT, optional: true }],
    },
    MerkleKvTcpServer,
    { provide: APP_FILTER, useClass: KvErrorFilter },
  ],
})
export class GatewayModule {}
