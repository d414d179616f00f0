import { type DynamicModule, Module } from '@nestjs/common';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { CoreModule } from '../../shared/src/core.module.js';
import { type NodeLifecycle } from '../../shared/src/lifecycle.js';
import { GatewayModule } from '../../gateway/src/gateway.module.js';
import { ReplicatorModule } from '../../replicator/src/replicator.module.js';
import { AntiEntropyModule } from '../../anti-entropy/src/anti-entropy.module.js';

/** One full replica in one process: every service module composed. */
@Module({})
export class NodeModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle): DynamicModule {
    return {
      module: NodeModule,
      imports: [CoreModule.forRoot(config, logger, lifecycle), GatewayModule, ...(config.nats ? [ReplicatorModule, AntiEntropyModule] : [])],
    };
  }
}
