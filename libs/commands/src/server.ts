import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded } from './store-errors.js';

/**
 * Per-entry bookkeeping beyond key and value bytes: the map slot, the entry object with its
 * stamp, and the value buffer. Measured as the heap and buffer growth of 200k SETs of short
 * values on Node 20 (~310 bytes each). MEMORY reports data bytes plus this per live key: an
 * estimate of what the keyspace costs in memory, not the process's whole footprint.
 */
export const ENTRY_OVERHEAD_BYTES = 310;

/** What STATS and INFO tell of the keyspace, wherever it lives. */
export interface KeyspaceFigures {
  readonly keys: number;
  readonly dataBytes: number;
  /** Extra INFO lines about the keyspace, placed before `db_keys`. */
  readonly info?: readonly (readonly [string, string])[];
}

/** The node-level commands: they need no keyspace, or only its figures for STATS and INFO. */
export type NodeCommandName = 'PING' | 'ECHO' | 'STATS' | 'INFO' | 'VERSION' | 'SHUTDOWN' | 'CLIENT_LIST';

/**
 * PING, ECHO, STATS, INFO, VERSION, SHUTDOWN, CLIENT LIST. `figures` is synchronous for a local
 * store (STATS and INFO then answer at once) and a promise when the keyspace is remote.
 */
export function nodeCommands(
  { stats, clients, server, now = Date.now }: Pick<CommandDeps, 'stats' | 'clients' | 'server' | 'now'>,
  figures: () => KeyspaceFigures | Promise<KeyspaceFigures>,
): Handlers<NodeCommandName> {
  const uptimeSeconds = (): number => Math.max(0, Math.floor((now() - server.startedAt) / 1000));
  const withFigures = <T>(answer: (f: KeyspaceFigures) => T): T | Promise<T> => {
    const f = figures();
    return f instanceof Promise ? f.then(answer) : answer(f);
  };

  return {
    PING: ({ message }) => message,
    ECHO: ({ message }) => message,
    STATS: () =>
      withFigures((f) => {
        const up = uptimeSeconds();
        return [
          ['uptime_seconds', String(up)],
          ['uptime', humanUptime(up)],
          ['total_connections', String(clients.totalCount)],
          ['active_connections', String(clients.activeCount)],
          ['total_commands', String(stats.totalCommands)],
          ...stats.families().map(([family, n]): [string, string] => [family, String(n)]),
          ['error_replies', String(stats.errorReplies)],
          ['keys', String(f.keys)],
          ['data_bytes', String(f.dataBytes)],
          ['used_memory_kb', String(Math.round(process.memoryUsage.rss() / 1024))],
        ];
      }),
    INFO: () =>
      withFigures((f) => {
        const up = uptimeSeconds();
        return [
          ['version', server.version],
          ['uptime_seconds', String(up)],
          ['uptime', humanUptime(up)],
          ['server_time_unix', String(Math.floor(now() / 1000))],
          // Clients of the reference read INFO up to db_keys, its last line: ours stay before it.
          ...server.describe(),
          ...(f.info ?? []),
          ['db_keys', String(f.keys)],
        ];
      }),
    VERSION: () => server.version,
    SHUTDOWN: () => server.requestShutdown(),
    CLIENT_LIST: () => clients.list(),
  };
}

/** The node commands over a local keyspace, and DBSIZE, MEMORY, TRUNCATE. */
export function serverCommands(deps: CommandDeps): Handlers<NodeCommandName | 'DBSIZE' | 'MEMORY' | 'TRUNCATE'> {
  const { store } = deps;
  return {
    ...nodeCommands(deps, () => ({ keys: store.liveKeys, dataBytes: store.dataBytes })),
    DBSIZE: () => store.liveKeys,
    MEMORY: () => memoryEstimate(store.liveKeys, store.dataBytes),
    TRUNCATE: () => guarded(undefined, () => store.truncate()),
  };
}

/** MEMORY's answer: data bytes plus the bookkeeping of each live key. */
function memoryEstimate(keys: number, dataBytes: number): number {
  return dataBytes + keys * ENTRY_OVERHEAD_BYTES;
}

/** The reference server's uptime format: `1d 2h 3m 4s`. */
export function humanUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d}d ${h}h ${m}m ${seconds % 60}s`;
}
