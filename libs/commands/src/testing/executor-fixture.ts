import { MemoryEngine, Store } from '#store';
import { ClientRegistry } from '../clients.js';
import { type CommandName, type CommandOf, type ResultOf } from '../command.js';
import { CommandExecutor } from '../executor.js';
import { CommandStats } from '../stats.js';

/** A command layer over an in-memory store, for the per-family specs. */
export interface ExecutorFixture {
  readonly store: Store;
  readonly stats: CommandStats;
  readonly clients: ClientRegistry;
  readonly shutdowns: { count: number };
  run<N extends CommandName>(command: CommandOf<N>): Promise<ResultOf[N]>;
  close(): Promise<void>;
}

export async function executorFixture(options: { maxValueBytes?: number; now?: () => number } = {}): Promise<ExecutorFixture> {
  const store = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'test-node' });
  const stats = new CommandStats();
  const now = options.now ?? Date.now;
  const clients = new ClientRegistry(now);
  const shutdowns = { count: 0 };
  const executor = new CommandExecutor({
    store,
    stats,
    clients,
    now,
    limits: { maxValueBytes: options.maxValueBytes ?? 1024 * 1024 },
    server: {
      version: '9.9.9',
      startedAt: now(),
      requestShutdown: () => void shutdowns.count++,
      describe: () => [['node_id', store.nodeId]],
    },
  });
  return {
    store,
    stats,
    clients,
    shutdowns,
    run: async (command) => executor.execute(command),
    close: () => store.close(),
  };
}

export const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
export const str = (value: Uint8Array | undefined): string | undefined => value && Buffer.from(value).toString('utf8');
