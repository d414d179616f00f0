import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HarnessError } from './errors.js';
import { makeTempDir, removeDir } from './net.js';
import { ManagedProcess, type ProcessExit } from './process.js';

/** The ports a node reports in its ready line. */
export interface NodePorts {
  readonly merklekv: number;
  readonly http: number;
  /** Absent while the node has no memcached listener. */
  readonly memcached?: number;
}

export interface StartNodeOptions {
  /** Extra command-line arguments; a flag given here replaces the harness's default for it. */
  readonly args?: readonly string[];
  /** Environment added to the parent's (inherited `MERKLEKV_*` and `NODE_OPTIONS` are dropped). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Data directory; default a fresh temp dir that dispose removes. A caller's dir is kept. */
  readonly dataDir?: string;
  /** Names the fresh temp dir `merklekv-<label>-*` (default `node`), e.g. to tell a test's own dirs apart. */
  readonly tempLabel?: string;
  /**
   * Which process to run: the all-in-one node (default) or a split deployment's gateway, from
   * `<repo>/dist/apps/<role>/src/main.js` (run `npm run build` first).
   */
  readonly role?: 'node' | 'gateway';
  /** The script to run instead of the role's. */
  readonly entry?: string;
  /** Flags for the Node.js runtime itself, e.g. `--enable-source-maps`. */
  readonly nodeFlags?: readonly string[];
  /**
   * A command to run Node.js under, e.g. `['ip', 'netns', 'exec', 'ns1']` to start it in a network
   * namespace. It must exec Node.js in its own process, so that signals and the pid reach the node.
   */
  readonly launcher?: readonly string[];
  /**
   * Add `--host 127.0.0.1 --port 0 --http-port 0 --memcached-port 0 --data-dir <dir>` for the
   * flags `args` does not set (default true). With false only `args` are passed, e.g. to start
   * from a config file; the temp dir is still created and exposed as `dataDir`.
   */
  readonly defaultFlags?: boolean;
  /** Deadline for the ready line (default 15 s). */
  readonly readyTimeoutMs?: number;
  /** How long `stop()` waits before SIGKILL (default 10 s). */
  readonly stopTimeoutMs?: number;
  /** Output lines kept for failure messages (default 200). */
  readonly logLines?: number;
}

/** A running process of ours (node, gateway, store-shard), ready to serve. Dispose it with `await using`. */
export interface ServiceProcess extends AsyncDisposable {
  readonly pid: number;
  readonly dataDir: string;
  /** Everything the node said in its ready line. */
  readonly readyLine: Readonly<Record<string, unknown>>;
  /** How the process ended, once it has. */
  readonly exited: Promise<ProcessExit>;
  /** The last output lines (stderr and stdout interleaved). */
  logs(): string;
  /** Sends `signal` (SIGKILL after the stop deadline); resolves with the exit status. */
  stop(signal?: NodeJS.Signals): Promise<number>;
  /** SIGKILL; resolves with the exit status (137). */
  kill(): Promise<number>;
  /** Calls `listener` for every later output line; returns the unsubscribe function. */
  onLine(listener: (line: string) => void): () => void;
  /** Waits for an output line, already printed or later, that holds `text` (a log message) and resolves with it; rejects on exit or at the deadline, naming the text. */
  waitForLine(text: string, timeoutMs?: number): Promise<string>;
}

/** A node or gateway process: a service with client ports. */
export interface NodeProcess extends ServiceProcess {
  readonly ports: NodePorts;
}

/** A store-shard process: its probes and `/metrics` on `httpPort` (undefined when started with `--http-port off`). */
export interface StoreShardProcess extends ServiceProcess {
  readonly httpPort: number | undefined;
}

/** The repository root: the nearest folder above this file that holds a package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('package.json not found above the testing library');
    dir = parent;
  }
  return dir;
}

const hasFlag = (args: readonly string[], flag: string): boolean => args.some((a) => a === flag || a.startsWith(`${flag}=`));

function flagValue(args: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < args.length; i += 1) {
    const arg = args[i] ?? '';
    if (arg === flag) return args[i + 1];
    if (arg.startsWith(`${flag}=`)) return arg.slice(flag.length + 1);
  }
  return undefined;
}

const isPort = (value: unknown): value is number => Number.isInteger(value) && (value as number) > 0 && (value as number) < 65536;

/** The JSON record of a process's ready line (`"msg":"ready"`), or undefined for any other line. */
function readyRecord(line: string): Record<string, unknown> | undefined {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"ready"')) return undefined;
  let record: unknown;
  try {
    record = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof record === 'object' && record !== null && (record as { msg?: unknown }).msg === 'ready' ? (record as Record<string, unknown>) : undefined;
}

/**
 * Recognises the node's ready line: a JSON object with `"msg":"ready"` and
 * `"ports":{"merklekv":n,"http":n,"memcached":n}` (memcached absent when the node has no such
 * listener). Returns undefined for any other line and
 * throws when a ready line lacks usable ports, so the caller fails at once instead of waiting.
 */
export function parseReadyLine(line: string): { ports: NodePorts; record: Record<string, unknown> } | undefined {
  const record = readyRecord(line);
  if (!record) return undefined;
  const ports = record['ports'];
  const p = (typeof ports === 'object' && ports !== null ? ports : {}) as Record<string, unknown>;
  if (!isPort(p['merklekv']) || !isPort(p['http']) || (p['memcached'] !== undefined && !isPort(p['memcached']))) {
    throw new HarnessError('BAD_READY_LINE', `ready line without ports {merklekv, http[, memcached]}: ${line.trim()}`);
  }
  const memcached = isPort(p['memcached']) ? { memcached: p['memcached'] } : {};
  return { ports: { merklekv: p['merklekv'], http: p['http'], ...memcached }, record };
}

function childEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key.startsWith('MERKLEKV_') || key === 'NODE_OPTIONS') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

/**
 * Starts a node (or gateway) process on ephemeral ports with its own data directory and resolves
 * once it printed its ready line. Rejects (with the output tail) if it exits first or takes too long.
 */
export async function startNode(options: StartNodeOptions = {}): Promise<NodeProcess> {
  const defaults: [string, string][] = [
    ['--host', '127.0.0.1'],
    ['--port', '0'],
    ['--http-port', '0'],
    ['--memcached-port', '0'],
  ];
  const { service, ready } = await launch(options, options.role ?? 'node', defaults, parseReadyLine);
  return { ...service, ports: ready.ports };
}

/**
 * Starts a store-shard process of a split deployment (give it `--nats`, and `--hosted-shards` for
 * a subset) with its own data directory and an ephemeral HTTP port for its probes; resolves once
 * it serves its shards.
 */
export async function startStoreShard(options: Omit<StartNodeOptions, 'role'> = {}): Promise<StoreShardProcess> {
  const { service, ready } = await launch(options, 'store-shard', [['--http-port', '0']], (line) => {
    const record = readyRecord(line);
    if (!record) return undefined;
    const http = (record['ports'] as { http?: unknown } | undefined)?.http;
    if (http !== undefined && !isPort(http)) throw new HarnessError('BAD_READY_LINE', `ready line with a bad ports.http: ${line.trim()}`);
    return { record, httpPort: http };
  });
  return { ...service, httpPort: ready.httpPort };
}

async function launch<R extends { record: Record<string, unknown> }>(
  options: StartNodeOptions,
  app: string,
  defaults: readonly [string, string][],
  parse: (line: string) => R | undefined,
): Promise<{ service: ServiceProcess; ready: R }> {
  const args = [...(options.args ?? [])];
  const argDataDir = flagValue(args, '--data-dir');
  const ownsDir = argDataDir === undefined && options.dataDir === undefined;
  const dataDir = argDataDir ?? options.dataDir ?? (await makeTempDir(options.tempLabel ?? 'node'));
  if (options.defaultFlags ?? true) {
    for (const [flag, value] of [...defaults, ['--data-dir', dataDir] as const]) if (!hasFlag(args, flag)) args.push(flag, value);
  }
  const entry = resolve(options.entry ?? join(repoRoot(), 'dist', 'apps', app, 'src', 'main.js'));
  if (!existsSync(entry)) {
    if (ownsDir) await removeDir(dataDir);
    throw new HarnessError('SPAWN_FAILED', `node entry ${entry} does not exist (run \`npm run build\` first)`);
  }

  const [command = process.execPath, ...launcherArgs] = options.launcher ?? [];
  const nodeArgs = [...(options.nodeFlags ?? []), entry, ...args];
  const proc = ManagedProcess.spawn(command, {
    args: options.launcher === undefined ? nodeArgs : [...launcherArgs, process.execPath, ...nodeArgs],
    cwd: options.cwd,
    env: childEnv(options.env),
    logLines: options.logLines,
    label: `node ${entry}`,
  });
  const stopTimeoutMs = options.stopTimeoutMs ?? 10_000;
  let ready: R;
  try {
    ready = await proc.waitForLine((line) => parse(line), {
      timeoutMs: options.readyTimeoutMs ?? 15_000,
      what: 'ready line',
    });
  } catch (err) {
    await proc.kill();
    if (ownsDir) await removeDir(dataDir);
    if (err instanceof HarnessError && err.code === 'BAD_READY_LINE') {
      throw new HarnessError(err.code, err.message, { logs: proc.logs() });
    }
    throw err;
  }

  const service: ServiceProcess = {
    pid: proc.pid,
    dataDir,
    readyLine: ready.record,
    exited: proc.exited,
    logs: () => proc.logs(),
    stop: (signal: NodeJS.Signals = 'SIGTERM') => proc.stop(signal, stopTimeoutMs),
    kill: () => proc.kill(),
    onLine: (listener) => proc.onLine((line) => listener(line)),
    waitForLine: (text, timeoutMs = 10_000) =>
      proc.waitForLine((line) => (line.includes(text) ? line : undefined), { timeoutMs, what: `a line with "${text}"`, includePast: true }),
    async [Symbol.asyncDispose]() {
      await proc.stop('SIGTERM', stopTimeoutMs);
      if (ownsDir) await removeDir(dataDir);
    },
  };
  return { service, ready };
}
