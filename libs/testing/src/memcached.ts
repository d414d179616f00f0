import { HarnessError } from './errors.js';
import { freePort, waitForTcp } from './net.js';
import { ManagedProcess, type ProcessExit } from './process.js';
import { TextClient } from './text-client.js';

const HOST = '127.0.0.1';
const PORT_IN_USE = /failed to listen|address already in use/i;

export interface StartMemcachedOptions {
  /** TCP port; default a free one (retried if another process takes it first). */
  readonly port?: number;
  /** Worker threads, `-t` (default 2). */
  readonly threads?: number;
  /** Memory limit in MB, `-m` (default memcached's 64). */
  readonly memoryMb?: number;
  /** Extra arguments. */
  readonly args?: readonly string[];
  /** `-u` user; default `memcache` when running as root (memcached refuses root), none otherwise. */
  readonly user?: string;
  /** The executable (default `memcached` from PATH; Debian package `memcached`). */
  readonly binary?: string;
  /** Deadline for accepting connections (default 10 s). */
  readonly readyTimeoutMs?: number;
  readonly logLines?: number;
}

/** A memcached process listening on 127.0.0.1. Dispose it with `await using`. */
export interface MemcachedServer extends AsyncDisposable {
  readonly host: string;
  readonly port: number;
  readonly pid: number;
  readonly exited: Promise<ProcessExit>;
  logs(): string;
  /** SIGTERM (SIGKILL after 5 s); resolves with the exit status. */
  stop(): Promise<number>;
  kill(): Promise<number>;
}

/** Starts memcached on a free port and resolves once it accepts TCP connections. */
export async function startMemcached(options: StartMemcachedOptions = {}): Promise<MemcachedServer> {
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const user = options.user ?? (isRoot ? 'memcache' : undefined);
  for (let attempt = 1; ; attempt += 1) {
    const port = options.port ?? (await freePort(HOST));
    const args = [
      ...(user !== undefined ? ['-u', user] : []),
      '-l',
      HOST,
      '-p',
      String(port),
      '-U',
      '0',
      '-t',
      String(options.threads ?? 2),
      ...(options.memoryMb !== undefined ? ['-m', String(options.memoryMb)] : []),
      ...(options.args ?? []),
    ];
    const proc = ManagedProcess.spawn(options.binary ?? 'memcached', { args, logLines: options.logLines, label: `memcached :${port}` });
    const exitedEarly = proc.exited.then((exit) => {
      if (exit.error !== undefined) {
        throw new HarnessError('SPAWN_FAILED', `memcached could not be started: ${exit.error.message} (Debian package: memcached)`, {
          cause: exit.error,
          logs: proc.logs(),
        });
      }
      throw new HarnessError('EXITED_EARLY', `memcached exited with status ${exit.status} before accepting connections`, { logs: proc.logs() });
    });
    // Only the race below observes this rejection once the server is up; keep it quiet otherwise.
    exitedEarly.catch(() => undefined);
    try {
      await waitForTcp(port, { host: HOST, timeoutMs: options.readyTimeoutMs ?? 10_000, abort: exitedEarly });
      // Make sure our memcached answers, not whoever took the port first.
      await Promise.race([exitedEarly, answersAs(port, proc.pid)]);
    } catch (err) {
      await proc.kill();
      const collided = err instanceof HarnessError && err.code === 'EXITED_EARLY' && PORT_IN_USE.test(err.logs ?? '');
      if (collided && options.port === undefined && attempt < 5) continue;
      throw err;
    }
    return {
      host: HOST,
      port,
      pid: proc.pid,
      exited: proc.exited,
      logs: () => proc.logs(),
      stop: () => proc.stop('SIGTERM', 5_000),
      kill: () => proc.kill(),
      [Symbol.asyncDispose]: async () => {
        await proc.stop('SIGTERM', 5_000);
      },
    };
  }
}

/** Asks whoever answers on the port for its pid: it must be the process we started. */
async function answersAs(port: number, pid: number): Promise<void> {
  await using client = await TextClient.connect(port, { host: HOST });
  client.send('stats');
  const stats = await client.readUntil((line) => line === 'END' || line.includes('ERROR'));
  const answered = stats.find((line) => line.startsWith('STAT pid '))?.slice('STAT pid '.length);
  if (answered !== String(pid)) {
    throw new HarnessError('EXITED_EARLY', `${HOST}:${port} is answered by pid ${answered ?? '?'}, not ours (${pid}): address already in use`);
  }
}
