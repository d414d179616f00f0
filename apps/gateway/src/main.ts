import { ConfigError, type NodeConfig } from '#config';
import { runService } from '../../shared/src/bootstrap.js';
import { createFrontEnd, listenFrontEnd } from './front-end.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { GatewayProcessModule } from './gateway-process.module.js';

/** A gateway process: the client protocols of a split deployment, over its store-shard processes. */
void runService({
  kind: 'gateway',
  check: (config) =>
    config.nats ? undefined : new ConfigError('INVALID_VALUE', 'nats.servers', 'default', 'a gateway needs NATS (--nats <url>): it reaches the store-shard processes there'),
  create: (config, logger, lifecycle, telemetry) => createFrontEnd(GatewayProcessModule.forRoot(config, logger, lifecycle, telemetry), config, logger),
  nodeId: (app) => app.get<NodeConfig>(NODE_CONFIG).nodeId!,
  listen: async (app, config) => {
    const { addresses, ports } = await listenFrontEnd(app, config);
    return { addresses, details: { ports, host: config.host, group: config.split.group } };
  },
});
