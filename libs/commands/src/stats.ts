import { type CommandName } from './command.js';

/**
 * Command counters in the reference server's families (its STATS keys), plus a count per
 * command and per error reply. Counting happens once, in the executor, for every protocol.
 */
const FAMILY: Record<CommandName, string> = {
  GET: 'get_commands',
  SCAN: 'scan_commands',
  SET: 'set_commands',
  DEL: 'delete_commands',
  INCR: 'numeric_commands',
  APPEND: 'string_commands',
  PREPEND: 'string_commands',
  MGET: 'bulk_commands',
  MSET: 'bulk_commands',
  TRUNCATE: 'bulk_commands',
  EXISTS: 'bulk_commands',
  STATS: 'stat_commands',
  INFO: 'stat_commands',
  PING: 'stat_commands',
  ECHO: 'stat_commands',
  DBSIZE: 'stat_commands',
  MEMORY: 'stat_commands',
  CLIENT_LIST: 'stat_commands',
  VERSION: 'management_commands',
  SHUTDOWN: 'management_commands',
  HASH: 'cluster_commands',
  SYNC: 'cluster_commands',
  AE: 'cluster_commands',
  REPLICATE: 'cluster_commands',
  WATCH: 'watch_commands',
  // The item commands count in the families of the plain commands they extend.
  STORE: 'set_commands',
  REMOVE: 'delete_commands',
  TOUCH: 'set_commands',
  ADJUST: 'numeric_commands',
  LOOKUP: 'get_commands',
};

const FAMILIES = [...new Set(Object.values(FAMILY))];

export class CommandStats {
  private total = 0;
  private errors = 0;
  private readonly byFamily = new Map<string, number>(FAMILIES.map((f) => [f, 0]));
  private readonly byCommand = new Map<CommandName, number>();

  count(name: CommandName): void {
    this.total++;
    const family = FAMILY[name];
    this.byFamily.set(family, (this.byFamily.get(family) ?? 0) + 1);
    this.byCommand.set(name, (this.byCommand.get(name) ?? 0) + 1);
  }

  /** Error replies of any kind, parse errors included. */
  countError(): void {
    this.errors++;
  }

  get totalCommands(): number {
    return this.total;
  }

  get errorReplies(): number {
    return this.errors;
  }

  families(): [string, number][] {
    return [...this.byFamily];
  }

  commands(): [CommandName, number][] {
    return [...this.byCommand];
  }
}
