import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { ClientNats } from '@nestjs/microservices';
import { type NatsConnection } from '@nats-io/transport-node';
import { firstValueFrom, timeout } from 'rxjs';
import { type ShardChannel, type ShardInbox } from '#commands';
import { type NodeConfig } from '#config';
import { shardRequestSubject, watchSubjectPrefix } from '#replication';
import { natsConnectionOptions } from '../../../shared/src/nats-options.js';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';

/** A shard that has not answered by then counts as unavailable (no process serves it, or it is stuck). */
export const SHARD_REQUEST_TIMEOUT_MS = 5000;

/** Requests to the store-shard processes of this gateway's group, on the NestJS microservices NATS transport. */
@Injectable()
export class NatsShardChannel implements ShardChannel, OnApplicationShutdown {
  private readonly client: ClientNats;
  private readonly subjects: readonly string[];
  private readonly inboxPrefix: string;

  constructor(@Inject(NODE_CONFIG) config: NodeConfig) {
    const nats = config.nats!;
    this.client = new ClientNats(natsConnectionOptions(nats, `merklekv-gateway-${config.nodeId ?? config.split.group}`));
    this.subjects = Array.from({ length: config.shards }, (_, shard) => shardRequestSubject(nats.cluster, config.split.group, shard));
    this.inboxPrefix = watchSubjectPrefix(nats.cluster);
  }

  request(shard: number, message: unknown): Promise<unknown> {
    const subject = this.subjects[shard];
    if (subject === undefined) return Promise.reject(new RangeError(`no shard ${shard}`));
    return firstValueFrom(this.client.send<unknown, unknown>(subject, message).pipe(timeout(SHARD_REQUEST_TIMEOUT_MS)));
  }

  async openInbox(onMessage: (message: unknown) => void): Promise<ShardInbox> {
    const nc = (await this.client.connect()) as NatsConnection;
    const subject = this.inboxPrefix + randomBytes(12).toString('hex');
    const subscription = nc.subscribe(subject, {
      callback: (err, msg) => {
        if (err) return;
        let message: unknown;
        try {
          message = msg.json();
        } catch {
          return;
        }
        onMessage(message);
      },
    });
    // The server must know the inbox before any shard is asked to push to it.
    await nc.flush();
    return { subject, close: () => subscription.unsubscribe() };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.client.close();
  }
}

@Module({ providers: [NatsShardChannel], exports: [NatsShardChannel] })
export class ShardClientModule {}
