import { randomBytes } from 'node:crypto';
import { type DynamicModule, Module } from '@nestjs/common';
import { ClientRegistry, CommandStats, instrumentShardChannel, ShardRouter } from '#commands';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { Telemetry } from '#telemetry';
import { CoreModule } from '../../shared/src/core.module.js';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { type ClusterViewSource, COMMANDS } from '../../shared/src/tokens.js';
import { serverPort } from '../../shared/src/server-port.js';
import { GatewayModule } from './gateway.module.js';
import { NatsShardChannel, ShardClientModule } from './split/nats-shard-channel.js';

/** A gateway process of a split deployment: the protocols, routed by shard to the store-shard processes of its group. */
@Module({})
export class GatewayProcessModule {
  static forRoot(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle, telemetry: Telemetry): DynamicModule {
    // A gateway keeps nothing: its id only names it in logs, INFO and NATS connections.
    const id = config.nodeId ?? `gateway-${randomBytes(4).toString('hex')}`;
    return {
      module: GatewayProcessModule,
      imports: [
        CoreModule.forRoot({ ...config, nodeId: id }, logger, lifecycle, telemetry),
        GatewayModule.forRoot({
          imports: [ShardClientModule],
          commands: {
            useFactory: (channel: NatsShardChannel, stats: CommandStats, clients: ClientRegistry, lifecycle: NodeLifecycle) =>
              new ShardRouter({
                shards: config.shards,
                channel: instrumentShardChannel(channel, telemetry.metrics, telemetry.tracing),
                stats,
                clients,
                limits: { maxValueBytes: config.maxValueBytes },
                server: serverPort(lifecycle, () => [
                  ['node_id', id],
                  ['role', 'gateway'],
                  ['store_group', config.split.group],
                  ['connected_clients', String(clients.activeCount)],
                ]),
              }),
            inject: [NatsShardChannel, CommandStats, ClientRegistry, NodeLifecycle],
          },
          clusterView: {
            useFactory: (router: ShardRouter): ClusterViewSource => ({
              view: async () => ({
                mode: 'gateway',
                node: { id },
                group: config.split.group,
                shards: (await router.figures()).map((f, shard) => ({ shard, node: f.node, keys: f.keys })),
              }),
            }),
            inject: [COMMANDS],
          },
        }),
      ],
    };
  }
}
