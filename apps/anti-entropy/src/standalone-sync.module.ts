import { Global, Module } from '@nestjs/common';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { Store } from '#store';
import { Telemetry } from '#telemetry';
import { NODE_CONFIG, PEER_SYNC } from '../../shared/src/tokens.js';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { PeerSessions } from './peer-sessions.js';

/**
 * SYNC host port on a node without NATS: anti-entropy sessions with the peer over the text
 * protocol (both ways, as between cluster members), or its keys and values by SCAN and GET when
 * it has no anti-entropy (the reference server, another standalone node). Global, so that the
 * gateway's command layer finds it.
 */
@Global()
@Module({
  imports: [StoreShardModule],
  providers: [
    {
      provide: PEER_SYNC,
      useFactory: (store: Store, config: NodeConfig, logger: Logger, telemetry: Telemetry) =>
        new PeerSessions(store, config, logger.child({ component: 'sync' }), telemetry.antiEntropy),
      inject: [Store, NODE_CONFIG, Logger, Telemetry],
    },
  ],
  exports: [PEER_SYNC],
})
export class StandaloneSyncModule {}
