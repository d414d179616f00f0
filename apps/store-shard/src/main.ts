import { NestFactory } from '@nestjs/core';
import { type MicroserviceOptions, ServerNats } from '@nestjs/microservices';
import { ConfigError } from '#config';
import { Store } from '#store';
import { runService } from '../../shared/src/bootstrap.js';
import { natsConnectionOptions } from '../../shared/src/nats-options.js';
import { NestJsonLogger } from '../../shared/src/nest-logger.js';
import { OpsHttpServer } from '../../shared/src/ops-server.js';
import { ShardServer } from './shard-server.js';
import { ShardRequestDeserializer } from './shard-request.deserializer.js';
import { StoreShardProcessModule } from './store-shard-process.module.js';

/** In-flight requests get this long to be answered once the process stops taking new ones. */
const DRAIN_MS = 250;

/** A store-shard process: some shards of a split deployment's store, served to its gateways over NATS. */
void runService({
  kind: 'store-shard',
  check: (config) =>
    config.nats ? undefined : new ConfigError('INVALID_VALUE', 'nats.servers', 'default', 'a store-shard process needs NATS (--nats <url>): gateways reach it there'),
  create: async (config, logger, lifecycle, telemetry) => {
    const transport = new ServerNats({
      ...natsConnectionOptions(config.nats!, `merklekv-store-${config.nodeId ?? 'unnamed'}`),
      // Until NATS answers, the process waits rather than failing: gateways cannot reach it anyway.
      waitOnFirstConnect: true,
      queue: `merklekv-store-${config.split.group}`,
      gracefulShutdown: true,
      gracePeriod: DRAIN_MS,
      deserializer: new ShardRequestDeserializer(),
    });
    const app = await NestFactory.createMicroservice<MicroserviceOptions>(StoreShardProcessModule.forRoot(config, logger, lifecycle, telemetry, transport), {
      strategy: transport,
      logger: new NestJsonLogger(logger),
      abortOnError: false,
    });
    return app;
  },
  nodeId: (app) => app.get(Store).nodeId,
  listen: async (app, config) => {
    // The probes answer while the process still waits for NATS.
    const http = config.httpPort === null ? undefined : await app.get(OpsHttpServer).listen(config.host, config.httpPort);
    await app.listen();
    const server = app.get(ShardServer);
    return {
      addresses: { merklekv: '', http: http === undefined ? '' : `${config.host}:${http}` },
      details: { ports: { http }, host: config.host, nodeId: app.get(Store).nodeId, group: config.split.group, shards: server.service.shards },
    };
  },
});
