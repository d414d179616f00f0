import { Module } from '@nestjs/common';
import { ReplicatorModule } from '../../replicator/src/replicator.module.js';
import { StoreShardModule } from '../../store-shard/src/store-shard.module.js';
import { AntiEntropyController } from './anti-entropy.controller.js';
import { AntiEntropyService } from './anti-entropy.service.js';

/**
 * Anti-entropy: serves peers' MST sync sessions over NATS request/reply, runs rounds with live
 * peers (every interval, and on demand), collects tombstones once safe, and runs SYNC. Composed
 * into a node with the replicator, whose NATS connection and membership view it uses, and
 * extends the node's cluster port (ClusterModule); the algorithms are in #anti-entropy.
 */
@Module({
  imports: [StoreShardModule, ReplicatorModule],
  controllers: [AntiEntropyController],
  providers: [AntiEntropyService],
  exports: [AntiEntropyService],
})
export class AntiEntropyModule {}
