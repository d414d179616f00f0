/*
 * Test support: connections to the harness's nats-server (#testing), tuned to reconnect fast,
 * disposable with `await using`.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, connect } from '@nats-io/transport-node';

export interface TestClient extends AsyncDisposable {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
}

export async function testClient(servers: string | readonly string[], name = 'test'): Promise<TestClient> {
  const nc = await connect({
    servers: typeof servers === 'string' ? servers : [...servers],
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
    reconnectJitter: 50,
  });
  // Short API timeouts: a test must notice an unavailable JetStream quickly.
  const jsm = await jetstreamManager(nc, { timeout: 2_000, checkAPI: false });
  return {
    nc,
    js: jetstream(nc, { timeout: 2_000 }),
    jsm,
    async [Symbol.asyncDispose]() {
      if (!nc.isClosed()) await nc.close();
    },
  };
}
