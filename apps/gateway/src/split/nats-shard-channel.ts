import { randomBytes } from 'node:crypto';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { Inject, Injectable, Module, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ClientNats, NatsRecordBuilder } from '@nestjs/microservices';
import { firstValueFrom, timeout } from 'rxjs';
import { type ShardChannel, type ShardInbox } from '#commands';
import { type NodeConfig } from '#config';
import { shardRequestSubject, watchSubjectPrefix } from '#replication';
import { injectTraceContext, Telemetry, type Tracing } from '#telemetry';
import { natsConnectionOptions } from '../../../shared/src/nats-options.js';
import { Readiness } from '../../../shared/src/readiness.js';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';

/** A shard that has not answered by then counts as unavailable (no process serves it, or it is stuck). */
export const SHARD_REQUEST_TIMEOUT_MS = 5000;

/** Requests to the store-shard processes of this gateway's group, on the NestJS microservices NATS transport. */
@Injectable()
export class NatsShardChannel implements ShardChannel, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly client: ClientNats;
  private readonly subjects: readonly string[];
  private readonly inboxPrefix: string;
  private readonly tracing: Tracing;
  private connected = false;

  constructor(@Inject(NODE_CONFIG) config: NodeConfig, telemetry: Telemetry, readiness: Readiness) {
    const nats = config.nats!;
    this.client = new ClientNats(natsConnectionOptions(nats, `merklekv-gateway-${config.nodeId ?? config.split.group}`));
    this.subjects = Array.from({ length: config.shards }, (_, shard) => shardRequestSubject(nats.cluster, config.split.group, shard));
    this.inboxPrefix = watchSubjectPrefix(nats.cluster);
    this.tracing = telemetry.tracing;
    this.client.status.subscribe((status) => (this.connected = status === 'connected'));
    readiness.add({
      name: 'nats',
      problem: () => {
        if (this.connected) return undefined;
        // A first connection that failed is not retried until a request needs it: let the probe ask.
        void this.connect();
        return 'not connected to NATS: no store-shard process is reachable';
      },
    });
  }

  /** Connects now rather than at the first request, so that readiness tells whether NATS answers. */
  onApplicationBootstrap(): Promise<void> {
    return this.connect();
  }

  private async connect(): Promise<void> {
    await this.client.connect().catch(() => undefined);
  }

  request(shard: number, message: unknown): Promise<unknown> {
    const subject = this.subjects[shard];
    if (subject === undefined) return Promise.reject(new RangeError(`no shard ${shard}`));
    return firstValueFrom(this.client.send<unknown, unknown>(subject, this.tracing.enabled ? withTraceContext(message) : message).pipe(timeout(SHARD_REQUEST_TIMEOUT_MS)));
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

/** The request with the active trace context (the gateway's shard.request span) in its NATS headers. */
function withTraceContext(message: unknown): unknown {
  const carrier = headers();
  injectTraceContext(carrier);
  return new NatsRecordBuilder(message).setHeaders(carrier).build();
}

@Module({ providers: [NatsShardChannel], exports: [NatsShardChannel] })
export class ShardClientModule {}
