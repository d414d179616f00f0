import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HarnessError } from './errors.js';
import { freePorts, makeTempDir, removeDir } from './net.js';
import { ManagedProcess, type ProcessExit } from './process.js';

const HOST = '127.0.0.1';
const LISTENING = /Listening for client connections on [^\s]*:(\d+)\s*$/;
const READY = /\bServer is ready\b/;
const META_LEADER = /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/;
const PORT_IN_USE = /address already in use/i;

export interface StartNatsOptions {
  /** Enable JetStream with a store dir of its own (default true). */
  readonly jetstream?: boolean;
  /** Extra nats-server arguments. */
  readonly args?: readonly string[];
  /**
   * A configuration file's text (users, permissions, `include`s with absolute paths), passed with
   * `-c`; the harness's own flags (address, port, JetStream store, name) still apply over it.
   */
  readonly config?: string;
  /** Environment added to the parent's, e.g. for `$VARIABLE`s in the configuration. */
  readonly env?: Readonly<Record<string, string>>;
  /** Server name (default a unique one). */
  readonly name?: string;
  /** The nats-server executable (default `nats-server` from PATH). */
  readonly binary?: string;
  /** Deadline for "Server is ready" (default 15 s). */
  readonly readyTimeoutMs?: number;
  /** Output lines kept for failure messages (default 200). */
  readonly logLines?: number;
}

/** A nats-server on an ephemeral port with a temp store dir. Dispose it with `await using`. */
export interface NatsServer extends AsyncDisposable {
  /** `nats://127.0.0.1:<port>`; stays the same across restarts. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly name: string;
  /** The JetStream store dir (kept across restarts, removed on dispose). */
  readonly storeDir: string;
  /** The pid of the current process (-1 while stopped). */
  readonly pid: number;
  readonly running: boolean;
  /** How the current process ended, once it has. */
  readonly exited: Promise<ProcessExit>;
  /** The last output lines of the current process. */
  logs(): string;
  /** Graceful stop (SIGINT, SIGKILL after 10 s); resolves with the exit status (0). */
  stop(): Promise<number>;
  /** SIGKILL; resolves with the exit status. */
  kill(): Promise<number>;
  /** Starts it again (stopping it first if it runs) on the same port with the same store. */
  restart(): Promise<void>;
  /** Waits for an output line of the current process matching `pattern`. */
  waitForLog(pattern: RegExp, options?: { timeoutMs?: number; includePast?: boolean }): Promise<string>;
}

let serial = 0;
const uniqueName = (prefix: string): string => `${prefix}-${process.pid}-${(serial += 1)}`;

/** Shared machinery of a single server and a cluster member: a process that can come back. */
class NatsServerProcess implements NatsServer {
  readonly host = HOST;
  #proc: ManagedProcess | undefined;
  #port: number;

  constructor(
    readonly name: string,
    readonly storeDir: string,
    port: number,
    private readonly argsFor: (port: number) => string[],
    private readonly options: StartNatsOptions,
    private readonly ownedDirs: readonly string[],
  ) {
    this.#port = port;
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `nats://${HOST}:${this.#port}`;
  }

  get pid(): number {
    return this.#proc?.running === true ? this.#proc.pid : -1;
  }

  get running(): boolean {
    return this.#proc?.running === true;
  }

  get exited(): Promise<ProcessExit> {
    return this.#proc?.exited ?? Promise.resolve({ code: null, signal: null, status: 127 });
  }

  /** Spawns the process and waits for "Server is ready"; learns the port when it was -1. */
  async start(): Promise<void> {
    const proc = ManagedProcess.spawn(this.options.binary ?? 'nats-server', {
      args: this.argsFor(this.#port),
      ...(this.options.env && { env: { ...process.env, ...this.options.env } }),
      logLines: this.options.logLines,
      label: `nats-server ${this.name}`,
    });
    this.#proc = proc;
    let port: number | undefined;
    const timeoutMs = this.options.readyTimeoutMs ?? 15_000;
    try {
      await proc.waitForLine(
        (line) => {
          const listening = LISTENING.exec(line);
          if (listening?.[1] !== undefined) port = Number(listening[1]);
          return READY.test(line) ? true : undefined;
        },
        { timeoutMs, what: '"Server is ready"' },
      );
    } catch (err) {
      await proc.kill();
      throw err;
    }
    if (port === undefined) {
      await proc.kill();
      throw new HarnessError('BAD_READY_LINE', `nats-server ${this.name} never said which port it listens on`, { logs: proc.logs() });
    }
    this.#port = port;
  }

  logs(): string {
    return this.#proc?.logs() ?? '';
  }

  async stop(): Promise<number> {
    // nats-server shuts down gracefully on SIGINT and SIGTERM alike, but exits 1 on SIGTERM.
    return this.#proc === undefined ? 0 : this.#proc.stop('SIGINT', 10_000);
  }

  async kill(): Promise<number> {
    return this.#proc === undefined ? 0 : this.#proc.kill();
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  waitForLog(pattern: RegExp, options: { timeoutMs?: number; includePast?: boolean } = {}): Promise<string> {
    if (this.#proc === undefined) return Promise.reject(new Error(`nats-server ${this.name} is not running`));
    return this.#proc.waitForLine((line) => (pattern.test(line) ? line : undefined), {
      timeoutMs: options.timeoutMs ?? 15_000,
      what: `a line matching ${String(pattern)}`,
      includePast: options.includePast,
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    for (const dir of this.ownedDirs) await removeDir(dir);
  }
}

/**
 * Starts `nats-server [-c <config>] -a 127.0.0.1 -p -1 [-js -sd <tmp>] -n <name>`: the server picks a free
 * port itself and the harness reads it back from the log, so there is no port race.
 * `restart()` reuses that port and the store dir, for outage tests.
 */
export async function startNatsServer(options: StartNatsOptions = {}): Promise<NatsServer> {
  const name = options.name ?? uniqueName('nats');
  const dir = await makeTempDir('nats');
  const jetstream = options.jetstream ?? true;
  const configFile = join(dir, 'nats-server.conf');
  if (options.config !== undefined) await writeFile(configFile, options.config);
  const argsFor = (port: number): string[] => [
    ...(options.config !== undefined ? ['-c', configFile] : []),
    '-a',
    HOST,
    '-p',
    String(port),
    ...(jetstream ? ['-js', '-sd', dir] : []),
    '-n',
    name,
    ...(options.args ?? []),
  ];
  const server = new NatsServerProcess(name, dir, -1, argsFor, options, [dir]);
  try {
    await server.start();
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  return server;
}

export interface StartNatsClusterOptions extends Omit<StartNatsOptions, 'name' | 'args'> {
  /** Cluster name (default a unique one). */
  readonly name?: string;
  /** Extra configuration text appended to every server's config file. */
  readonly extraConfig?: string;
}

/** A NATS cluster of servers that route to each other. Dispose it with `await using`. */
export interface NatsCluster extends AsyncDisposable {
  readonly name: string;
  readonly servers: readonly NatsServer[];
  /** One client URL per server, in server order. */
  readonly urls: readonly string[];
  /** Waits until every running server has seen a JetStream metadata leader. */
  waitForMetaLeader(timeoutMs?: number): Promise<void>;
  /** Stops every server. */
  stop(): Promise<void>;
}

function clusterConfig(args: {
  serverName: string;
  clusterName: string;
  clientPort: number;
  routePort: number;
  routePorts: readonly number[];
  storeDir: string;
  jetstream: boolean;
  extra: string;
}): string {
  const routes = args.routePorts.map((p) => `"nats-route://${HOST}:${p}"`).join(', ');
  return [
    `server_name: "${args.serverName}"`,
    `listen: "${HOST}:${args.clientPort}"`,
    args.jetstream ? `jetstream { store_dir: "${args.storeDir}" }` : '',
    `cluster { name: "${args.clusterName}", listen: "${HOST}:${args.routePort}", routes: [${routes}] }`,
    args.extra,
    '',
  ].join('\n');
}

/**
 * Starts `size` nats-servers (default 3) that form one cluster, each with its own config file
 * and store dir; with JetStream (default) it resolves once every server has seen a metadata
 * leader, so R3 streams can be created right away. Route ports must be known up front, so they
 * are picked free and the whole start is retried if one was taken in the meantime.
 */
export async function startNatsCluster(size = 3, options: StartNatsClusterOptions = {}): Promise<NatsCluster> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`cluster size must be a positive integer, got ${size}`);
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await tryStartCluster(size, options);
    } catch (err) {
      const collided = err instanceof HarnessError && err.code === 'EXITED_EARLY' && PORT_IN_USE.test(err.logs ?? '');
      // nats-server 2.9 started three at once can, rarely, keep re-dialling its routes and never
      // elect a JetStream metadata leader; a fresh start forms the cluster.
      const leaderless = err instanceof HarnessError && err.code === 'READY_TIMEOUT' && err.message.includes('metadata leader');
      if (!(collided && attempt < 5) && !(leaderless && attempt < 3)) throw err;
    }
  }
}

async function tryStartCluster(size: number, options: StartNatsClusterOptions): Promise<NatsCluster> {
  const jetstream = options.jetstream ?? true;
  const clusterName = options.name ?? uniqueName('cluster');
  const dir = await makeTempDir('nats-cluster');
  const ports = await freePorts(2 * size, HOST);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size);
  const servers: NatsServerProcess[] = [];
  for (let i = 0; i < size; i += 1) {
    const serverName = `${clusterName}-n${i + 1}`;
    const storeDir = join(dir, `n${i + 1}`);
    const configFile = join(dir, `n${i + 1}.conf`);
    await writeFile(
      configFile,
      clusterConfig({
        serverName,
        clusterName,
        clientPort: clientPorts[i] ?? 0,
        routePort: routePorts[i] ?? 0,
        routePorts,
        storeDir,
        jetstream,
        extra: options.extraConfig ?? '',
      }),
    );
    // The directory is owned by the cluster, not by its members: restarting one keeps it.
    servers.push(new NatsServerProcess(serverName, storeDir, clientPorts[i] ?? 0, () => ['-c', configFile], options, []));
  }
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const cluster: NatsCluster = {
    name: clusterName,
    servers,
    urls: servers.map((s) => s.url),
    async waitForMetaLeader(timeoutMs = 20_000) {
      await Promise.all(servers.filter((s) => s.running).map((s) => s.waitForLog(META_LEADER, { timeoutMs, includePast: true })));
    },
    stop: stopAll,
    async [Symbol.asyncDispose]() {
      await stopAll();
      await removeDir(dir);
    },
  };
  try {
    await Promise.all(servers.map((s) => s.start()));
    if (jetstream) await cluster.waitForMetaLeader(options.readyTimeoutMs ?? 20_000);
  } catch (err) {
    await cluster[Symbol.asyncDispose]();
    throw err;
  }
  return cluster;
}
