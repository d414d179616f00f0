import { type DynamicModule, Module } from '@nestjs/common';
import { ClientRegistry, type ClusterPort, CommandStats, type PeerSync } from '#commands';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { Telemetry } from '#telemetry';
import { Store } from '#store';
import { CoreModule } from '../../shared/src/core.module.js';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { MemoryPressure } from '../../shared/src/memory-pressure.js';
import { CLUSTER_PORT, type ClusterViewSource, NODE_CONFIG, PEER_SYNC } from '../../shared/src/tokens.js';
import { GatewayModule } from '../../gateway/src/gateway.module.js';
import { ClusterModule } from '../../replicator/src/replicator.module.js';
import { localCommands } from '../../store-shard/src/local-commands.js';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { AntiEntropyModule } from '../../anti-entropy/src/anti-entropy.module.js';
import { AntiEntropyService } from '../../anti-entropy/src/anti-entropy.service.js';
import { StandaloneSyncModule } from '../../anti-entropy/src/standalone-sync.module.js';
import { OperatorModule } from '../../operator/src/operator.module.js';

const OPTIONAL_CLUSTER = { token: CLUSTER_PORT, optional: true } as const;
const OPTIONAL_PEER_SYNC = { token: PEER_SYNC, optional: true } as const;

/** One full replica in one process: every service module composed, the gateway over the local store. */
@Module({})
export class NodeModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle, telemetry: Telemetry): DynamicModule {
    return {
      module: NodeModule,
      imports: [
        CoreModule.forRoot(config, logger, lifecycle, telemetry),
        GatewayModule.forRoot({
          imports: [StoreShardModule],
          commands: {
            useFactory: (
              store: Store,
              pressure: MemoryPressure,
              stats: CommandStats,
              clients: ClientRegistry,
              lifecycle: NodeLifecycle,
              config: NodeConfig,
              telemetry: Telemetry,
              cluster?: ClusterPort,
              peerSync?: PeerSync,
            ) => localCommands(store, { store, pressure, stats, clients, lifecycle, config, cluster, peerSync, tracing: telemetry.tracing }),
            inject: [Store, MemoryPressure, CommandStats, ClientRegistry, NodeLifecycle, NODE_CONFIG, Telemetry, OPTIONAL_CLUSTER, OPTIONAL_PEER_SYNC],
          },
          clusterView: {
            useFactory: (store: Store, cluster?: ClusterPort): ClusterViewSource => ({
              view: () => {
                const view: { node?: object } = cluster?.view() ?? { mode: 'standalone', node: { id: store.nodeId, replicating: false }, peers: [] };
                return { ...view, node: { ...view.node, storage: store.storageState } };
              },
            }),
            inject: [Store, OPTIONAL_CLUSTER],
          },
        }),
        ...(config.nats ? [ClusterModule.forRoot({ module: AntiEntropyModule, provider: AntiEntropyService })] : [StandaloneSyncModule]),
        OperatorModule,
      ],
    };
  }
}
