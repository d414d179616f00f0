import { type DynamicModule, type InjectionToken, Module, type Type } from '@nestjs/common';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { CLUSTER_PORT } from '../../shared/src/tokens.js';
import { type ClusterExtension, clusterPort } from './cluster-port.js';
import { ReplicationService } from './replication.service.js';

/**
 * Replicator: publishes the store's outbox to NATS JetStream, merges other nodes' changes, and
 * keeps the membership view. Composed into a process only when NATS is configured.
 */
@Module({
  imports: [StoreShardModule],
  providers: [ReplicationService],
  exports: [ReplicationService],
})
export class ReplicatorModule {}

/** A module that provides a {@link ClusterExtension} (anti-entropy), and the token it provides it under. */
export interface ClusterExtensionModule {
  readonly module: Type;
  readonly provider: InjectionToken;
}

/**
 * The cluster port of a clustered process, built here from the replicator and, on a full node,
 * anti-entropy: no service registers itself with another at run time. Global, so that the
 * gateway's command layer, the shard server and the dashboard find it.
 */
@Module({})
export class ClusterModule {
  static forRoot(extension?: ClusterExtensionModule): DynamicModule {
    return {
      module: ClusterModule,
      global: true,
      imports: [ReplicatorModule, ...(extension ? [extension.module] : [])],
      providers: [
        {
          provide: CLUSTER_PORT,
          useFactory: (replication: ReplicationService, ext?: ClusterExtension) => clusterPort(replication.replicator, ext),
          inject: [ReplicationService, ...(extension ? [extension.provider] : [])],
        },
      ],
      exports: [CLUSTER_PORT],
    };
  }
}
