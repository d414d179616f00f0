import { type DynamicModule, Module } from '@nestjs/common';
import { type ServerNats } from '@nestjs/microservices';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { type Telemetry } from '#telemetry';
import { CoreModule } from '../../shared/src/core.module.js';
import { type NodeLifecycle } from '../../shared/src/lifecycle.js';
import { OpsHttpServer } from '../../shared/src/ops-server.js';
import { ClusterModule } from '../../replicator/src/replicator.module.js';
import { SHARD_TRANSPORT, ShardServer } from './shard-server.js';
import { StoreShardModule } from './store-shard.module.js';

/** A store-shard process of a split deployment: its shards' store, their replication, and the transport gateways reach them by. */
@Module({})
export class StoreShardProcessModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle, telemetry: Telemetry, transport: ServerNats): DynamicModule {
    return {
      module: StoreShardProcessModule,
      imports: [CoreModule.forRoot(config, logger, lifecycle, telemetry), StoreShardModule, ClusterModule.forRoot()],
      providers: [{ provide: SHARD_TRANSPORT, useValue: transport }, ShardServer, OpsHttpServer],
    };
  }
}
