import { bulkCommands } from './bulk.js';
import { clusterCommands } from './cluster.js';
import { type CommandName, type CommandOf } from './command.js';
import { KvError } from './errors.js';
import { type CommandDeps, type Handlers, type Reply } from './handlers.js';
import { itemCommands } from './items.js';
import { numericCommands } from './numeric.js';
import { serverCommands } from './server.js';
import { stringCommands } from './strings.js';
import { watchCommands } from './watch.js';

/** What still runs under memory pressure: what tells an operator how the node is, or stops it. */
const ALWAYS_ADMITTED: ReadonlySet<CommandName> = new Set<CommandName>(['PING', 'ECHO', 'INFO', 'STATS', 'VERSION', 'DBSIZE', 'MEMORY', 'CLIENT_LIST', 'SHUTDOWN']);

/** What a protocol adapter calls: an executor over a local store, or a gateway's router. */
export interface CommandPort {
  execute<N extends CommandName>(command: CommandOf<N>): Reply<N>;
}

/**
 * The one command layer under every protocol: an adapter decodes a request into a command,
 * calls {@link CommandExecutor.execute}, and encodes the result or the {@link KvError} thrown.
 * Reads answer synchronously; writes resolve once durable.
 */
export class CommandExecutor implements CommandPort {
  private readonly handlers: Handlers<CommandName>;

  constructor(private readonly deps: CommandDeps) {
    this.handlers = {
      ...stringCommands(deps),
      ...numericCommands(deps),
      ...bulkCommands(deps),
      ...serverCommands(deps),
      ...clusterCommands(deps),
      ...watchCommands(deps),
      ...itemCommands(deps),
    };
  }

  execute<N extends CommandName>(command: CommandOf<N>): Reply<N> {
    this.deps.stats.count(command.name);
    const refusal = this.deps.refusal?.();
    if (refusal !== undefined && !ALWAYS_ADMITTED.has(command.name)) throw new KvError('OVERLOADED', refusal);
    const handler = this.handlers[command.name] as (command: CommandOf<N>) => Reply<N>;
    return handler(command);
  }
}
