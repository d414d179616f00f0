import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded } from './store-errors.js';

/**
 * Per-entry bookkeeping beyond key and value bytes: the map slot, the entry object with its
 * stamp, and the value buffer. Measured as the heap and buffer growth of 200k SETs of short
 * values on Node 20 (~310 bytes each). MEMORY reports data bytes plus this per live key: an
 * estimate of what the keyspace costs in memory, not the process's whole footprint.
 */
export const ENTRY_OVERHEAD_BYTES = 310;

/** PING, ECHO, STATS, INFO, VERSION, DBSIZE, MEMORY, TRUNCATE, SHUTDOWN, CLIENT LIST. */
export function serverCommands(deps: CommandDeps): Handlers<
  'PING' | 'ECHO' | 'STATS' | 'INFO' | 'VERSION' | 'DBSIZE' | 'MEMORY' | 'TRUNCATE' | 'SHUTDOWN' | 'CLIENT_LIST'
> {
  const { store, stats, clients, server } = deps;
  const now = deps.now ?? Date.now;
  const uptimeSeconds = (): number => Math.max(0, Math.floor((now() - server.startedAt) / 1000));

  return {
    PING: ({ message }) => message,
    ECHO: ({ message }) => message,
    STATS: () => {
      const up = uptimeSeconds();
      return [
        ['uptime_seconds', String(up)],
        ['uptime', humanUptime(up)],
        ['total_connections', String(clients.totalCount)],
        ['active_connections', String(clients.activeCount)],
        ['total_commands', String(stats.totalCommands)],
        ...stats.families().map(([family, n]): [string, string] => [family, String(n)]),
        ['error_replies', String(stats.errorReplies)],
        ['keys', String(store.liveKeys)],
        ['data_bytes', String(store.dataBytes)],
        ['used_memory_kb', String(Math.round(process.memoryUsage.rss() / 1024))],
      ];
    },
    INFO: () => {
      const up = uptimeSeconds();
      return [
        ['version', server.version],
        ['uptime_seconds', String(up)],
        ['uptime', humanUptime(up)],
        ['server_time_unix', String(Math.floor(now() / 1000))],
        // Clients of the reference read INFO up to db_keys, its last line: ours stay before it.
        ...server.describe(),
        ['db_keys', String(store.liveKeys)],
      ];
    },
    VERSION: () => server.version,
    DBSIZE: () => store.liveKeys,
    MEMORY: () => store.dataBytes + store.liveKeys * ENTRY_OVERHEAD_BYTES,
    TRUNCATE: () => guarded(undefined, () => store.truncate()),
    SHUTDOWN: () => server.requestShutdown(),
    CLIENT_LIST: () => clients.list(),
  };
}

/** The reference server's uptime format: `1d 2h 3m 4s`. */
export function humanUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor((seconds % 86400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return `${d}d ${h}h ${m}m ${seconds % 60}s`;
}
