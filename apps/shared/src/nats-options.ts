import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions, nkeyAuthenticator } from '@nats-io/transport-node';
import { type NatsConfig } from '#config';

/** How every process of a node dials NATS: the configured servers and credentials, reconnecting for ever. */
export function natsConnectionOptions(nats: NatsConfig, name: string): ConnectionOptions {
  const { servers, credsFile, nkeyFile, token, user, tls } = nats;
  return {
    servers: [...servers],
    name,
    // After the first connection, reconnect for ever: the process serves meanwhile.
    maxReconnectAttempts: -1,
    // Otherwise every request (each JetStream publish) builds two Errors with stack traces up
    // front, in case it fails: 7.5% of a node's CPU under replication load, as profiled.
    noAsyncTraces: true,
    reconnectTimeWait: 500,
    ...(credsFile ? { authenticator: credsAuthenticator(new Uint8Array(readFileSync(credsFile))) } : {}),
    ...(nkeyFile ? { authenticator: nkeyAuthenticator(new TextEncoder().encode(readFileSync(nkeyFile, 'utf8').trim())) } : {}),
    ...(token ? { token } : {}),
    ...(user ? { user: user.name, pass: user.password } : {}),
    ...(tls ? { tls: { ...tls } } : {}),
  };
}
