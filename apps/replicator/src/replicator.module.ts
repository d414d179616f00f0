import { Global, Module } from '@nestjs/common';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { CLUSTER_PORT } from '../../shared/src/tokens.js';
import { ReplicationService } from './replication.service.js';

/**
 * Replicator: publishes the store's outbox to NATS JetStream, merges other nodes' changes, and
 * keeps the membership view. Composed into a node only when NATS is configured; global so that
 * the gateway finds the cluster port when it exists.
 */
@Global()
@Module({
  imports: [StoreShardModule],
  providers: [ReplicationService, { provide: CLUSTER_PORT, useExisting: ReplicationService }],
  exports: [CLUSTER_PORT, ReplicationService],
})
export class ReplicatorModule {}
