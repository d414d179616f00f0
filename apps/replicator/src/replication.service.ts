import { type BeforeApplicationShutdown, Inject, Injectable, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { connect } from '@nats-io/transport-node';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { Replicator } from '#replication';
import { Store } from '#store';
import { Telemetry } from '#telemetry';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { natsConnectionOptions } from '../../shared/src/nats-options.js';
import { Readiness } from '../../shared/src/readiness.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { NODE_VERSION } from '../../shared/src/version.js';
import { outboxSource, storeSink } from './store-ports.js';

/**
 * The node's {@link Replicator} (#replication) in the Nest application: built from the node's
 * configuration, store and lifecycle, started at bootstrap, stopped with the node, and asked
 * by /readyz.
 */
@Injectable()
export class ReplicationService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  readonly replicator: Replicator;

  constructor(@Inject(NODE_CONFIG) config: NodeConfig, store: Store, lifecycle: NodeLifecycle, logger: Logger, telemetry: Telemetry, readiness: Readiness) {
    const nats = config.nats;
    if (!nats) throw new Error('the replicator needs a NATS configuration');
    if (!store.outbox) throw new Error('the replicator needs a store that records an outbox');
    const hosted = new Set(config.split.hostedShards);
    this.replicator = new Replicator({
      cluster: nats.cluster,
      nodeId: store.nodeId,
      version: NODE_VERSION,
      shards: store.shardCount,
      connect: () => connect(natsConnectionOptions(nats, `merklekv-${store.nodeId}`)),
      source: outboxSource(store, store.outbox),
      sink: storeSink(store, hosted, telemetry.tracing),
      enabled: config.replication.enabled,
      maxValueBytes: config.maxValueBytes,
      announce: async () => {
        await lifecycle.whenReady();
        return lifecycle.isReady ? { addresses: lifecycle.addresses ?? { merklekv: '', http: '' }, startedAt: lifecycle.startedAt } : undefined;
      },
      // A store-shard process of a split deployment announces the roots of its own shards only.
      roots: () => Object.fromEntries([...hosted].map((shard) => [shard, Buffer.from(store.shardRoot(shard)).toString('hex')])),
      logger: logger.child({ component: 'replicator', cluster: nats.cluster }),
      metrics: telemetry.metrics,
      tracing: telemetry.tracing,
    });
    readiness.add({ name: 'replication', problem: () => this.replicator.readinessProblem() });
  }

  onApplicationBootstrap(): void {
    this.replicator.start();
  }

  beforeApplicationShutdown(): Promise<void> {
    return this.replicator.stop();
  }

  onApplicationShutdown(): Promise<void> {
    return this.replicator.close();
  }
}
