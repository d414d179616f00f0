import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ClientNats } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { type ShardChannel } from '#commands';
import { type NodeConfig } from '#config';
import { shardRequestSubject } from '#replication';
import { natsConnectionOptions } from '../../../shared/src/nats-options.js';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';

/** A shard that has not answered by then counts as unavailable (no process serves it, or it is stuck). */
export const SHARD_REQUEST_TIMEOUT_MS = 5000;

/** Requests to the store-shard processes of this gateway's group, on the NestJS microservices NATS transport. */
@Injectable()
export class NatsShardChannel implements ShardChannel, OnApplicationShutdown {
  private readonly client: ClientNats;
  private readonly subjects: readonly string[];

  constructor(@Inject(NODE_CONFIG) config: NodeConfig) {
    const nats = config.nats!;
    this.client = new ClientNats(natsConnectionOptions(nats, `merklekv-gateway-${config.nodeId ?? config.split.group}`));
    this.subjects = Array.from({ length: config.shards }, (_, shard) => shardRequestSubject(nats.cluster, config.split.group, shard));
  }

  request(shard: number, message: unknown): Promise<unknown> {
    const subject = this.subjects[shard];
    if (subject === undefined) return Promise.reject(new RangeError(`no shard ${shard}`));
    return firstValueFrom(this.client.send<unknown, unknown>(subject, message).pipe(timeout(SHARD_REQUEST_TIMEOUT_MS)));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

@Module({ providers: [NatsShardChannel], exports: [NatsShardChannel] })
export class ShardClientModule {}
