import { mkdtemp, rm } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { HarnessError } from './errors.js';

/**
 * Ports that were free a moment ago: each is bound to port 0 and released. All `count` are held
 * at once so they are distinct. Another process may still take one before the caller binds it;
 * callers that cannot use port 0 directly retry on a collision.
 */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.unref();
          server.once('error', reject);
          server.listen(0, host, () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected server address');
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return ports;
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error('no port');
  return port;
}

/** Whether something accepts TCP connections on host:port right now. */
export function canConnect(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/**
 * Polls until host:port accepts a connection. `abort` ends the wait early (e.g. the server
 * process exited) by resolving with a value; its rejection is propagated.
 */
export async function waitForTcp(port: number, options: { host?: string; timeoutMs?: number; abort?: Promise<unknown> } = {}): Promise<void> {
  const host = options.host ?? '127.0.0.1';
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let aborted = false;
  let abortError: unknown;
  void options.abort?.then(
    () => (aborted = true),
    (err: unknown) => {
      aborted = true;
      abortError = err;
    },
  );
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await canConnect(port, host)) return;
    if (aborted) {
      if (abortError !== undefined) throw abortError;
      throw new HarnessError('CONNECT_FAILED', `gave up waiting for ${host}:${port}`);
    }
    if (Date.now() > deadline) throw new HarnessError('CONNECT_FAILED', `nothing accepted connections on ${host}:${port} within ${options.timeoutMs ?? 10_000} ms`);
    await sleep(delay);
  }
}

/** A fresh directory under the OS temp dir, named for what it holds. */
export function makeTempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `merklekv-${label}-`));
}

/** Removes a directory tree; retries briefly because a just-killed process may still hold files. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
}
