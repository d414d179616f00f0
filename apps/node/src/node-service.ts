import { type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Store } from '#store';
import { createFrontEnd, listenFrontEnd } from '../../gateway/src/front-end.js';
import { type ServiceProcess } from '../../shared/src/bootstrap.js';
import { NodeModule } from './node.module.js';

/** The all-in-one node: gateway, store, replicator and anti-entropy in one process. */
export const NODE_SERVICE: ServiceProcess<NestFastifyApplication> = {
  kind: 'node',
  create: (config, logger, lifecycle, telemetry) => {
    // One process serves every shard: a split deployment's shard subset does not apply.
    const whole = { ...config, split: { ...config.split, hostedShards: Array.from({ length: config.shards }, (_, i) => i) } };
    return createFrontEnd(NodeModule.forRoot(whole, logger, lifecycle, telemetry), whole, logger);
  },
  nodeId: (app) => app.get(Store).nodeId,
  listen: async (app, config) => {
    const { addresses, ports } = await listenFrontEnd(app, config);
    return { addresses, details: { ports, host: config.host, nodeId: app.get(Store).nodeId } };
  },
};
