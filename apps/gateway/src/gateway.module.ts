import { type DynamicModule, type FactoryProvider, type ModuleMetadata, Module } from '@nestjs/common';
import { APP_FILTER } from '@nestjs/core';
import { AccessControl, ClientRegistry, CommandStats } from '#commands';
import { type NodeConfig } from '#config';
import { CLUSTER_VIEW, COMMANDS, NODE_CONFIG } from '../../shared/src/tokens.js';
import { ClusterController } from './http/cluster.controller.js';
import { HealthController } from './http/health.controller.js';
import { HttpCommands } from './http/http-access.js';
import { KvController } from './http/kv.controller.js';
import { KvErrorFilter } from './http/kv-error.filter.js';
import { WatchController } from './http/watch.controller.js';
import { MemcachedTcpServer } from './memcached/tcp-server.js';
import { MerkleKvTcpServer } from './merklekv/tcp-server.js';
import { ProtocolCommands } from './protocol-commands.js';

/** What the protocols run on: a command port and a cluster view, as the composing process builds them. */
export interface GatewayBackend {
  /** Modules whose exports the two factories inject. */
  readonly imports: NonNullable<ModuleMetadata['imports']>;
  /** Builds the {@link CommandPort}; may inject {@link CommandStats} and {@link ClientRegistry}. */
  readonly commands: Omit<FactoryProvider, 'provide'>;
  readonly clusterView: Omit<FactoryProvider, 'provide'>;
}

/**
 * The protocol front ends: MerkleKV text and memcached on TCP and HTTP/JSON, over one command port. The same
 * module fronts a local store (apps/node) and the store-shard processes of a split deployment
 * (apps/gateway's own process), so that every protocol behaves the same in both.
 */
@Module({})
export class GatewayModule {
  static forRoot(backend: GatewayBackend): DynamicModule {
    return {
      module: GatewayModule,
      imports: [...backend.imports],
      controllers: [KvController, HealthController, ClusterController, WatchController],
      providers: [
        { provide: CommandStats, useValue: new CommandStats() },
        { provide: ClientRegistry, useValue: new ClientRegistry() },
        { provide: AccessControl, useFactory: (config: NodeConfig) => new AccessControl(config.users), inject: [NODE_CONFIG] },
        { provide: COMMANDS, ...backend.commands },
        { provide: CLUSTER_VIEW, ...backend.clusterView },
        ProtocolCommands,
        HttpCommands,
        MerkleKvTcpServer,
        MemcachedTcpServer,
        { provide: APP_FILTER, useClass: KvErrorFilter },
      ],
    };
  }
}
