import { type BeforeApplicationShutdown, Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import { type NatsContext, type ServerNats } from '@nestjs/microservices';
import { ClientRegistry, type ClusterPort, CommandStats, ShardService, traceShardServe } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { shardRequestSubject, watchSubjectPrefix } from '#replication';
import { Store } from '#store';
import { Telemetry, type Tracing } from '#telemetry';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { MemoryPressure } from '../../shared/src/memory-pressure.js';
import { CLUSTER_PORT, NODE_CONFIG } from '../../shared/src/tokens.js';
import { localCommands } from './local-commands.js';

/** Injection token of the NestJS microservices NATS server the store-shard process listens with. */
export const SHARD_TRANSPORT = Symbol('SHARD_TRANSPORT');

/**
 * Serves this process's shards to gateways: one request/reply subject per hosted shard on the
 * NestJS microservices NATS transport, each answered by the command layer over that shard.
 */
@Injectable()
export class ShardServer implements OnModuleInit, BeforeApplicationShutdown {
  readonly service: ShardService;
  readonly subjects: readonly string[];
  private readonly tracing: Tracing;

  constructor(
    @Inject(SHARD_TRANSPORT) private readonly transport: ServerNats,
    @Inject(NODE_CONFIG) config: NodeConfig,
    store: Store,
    pressure: MemoryPressure,
    lifecycle: NodeLifecycle,
    private readonly logger: Logger,
    telemetry: Telemetry,
    @Optional() @Inject(CLUSTER_PORT) cluster: ClusterPort | undefined,
  ) {
    this.tracing = telemetry.tracing;
    // The process's own command counters: gateways count what their clients ask.
    const deps = { store, pressure, stats: new CommandStats(), clients: new ClientRegistry(), lifecycle, config, cluster, tracing: this.tracing };
    const clusterName = config.nats!.cluster;
    this.service = new ShardService({
      store,
      hosted: config.split.hostedShards,
      commandsFor: (keyspace) => localCommands(keyspace, deps),
      watches: {
        subjectPrefix: watchSubjectPrefix(clusterName),
        publish: (subject, message) => transport.unwrap<NatsConnection>().publish(subject, JSON.stringify(message)),
      },
    });
    this.subjects = this.service.shards.map((shard) => shardRequestSubject(clusterName, config.split.group, shard));
  }

  onModuleInit(): void {
    this.service.shards.forEach((shard, i) => {
      this.transport.addHandler(this.subjects[i]!, (message: unknown, context: NatsContext) =>
        traceShardServe(this.tracing, shard, context.getHeaders() as MsgHdrs | undefined, () => this.service.handle(shard, message)),
      );
    });
    this.logger.info('serving shards', { shards: this.service.shards, subjects: this.subjects });
  }

  beforeApplicationShutdown(): void {
    this.service.close();
  }
}
