import { type Keyspace, MemoryEngine, Store, type StoreOptions } from '#store';
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
  readonly executor: CommandExecutor;
  run<N extends CommandName>(command: CommandOf<N>): Promise<ResultOf[N]>;
  close(): Promise<void>;
}

export interface ExecutorFixtureOptions {
  readonly maxValueBytes?: number;
  readonly now?: () => number;
  readonly store?: Pick<StoreOptions, 'outbox' | 'traceContext' | 'clock'>;
  /** The keyspace the executor runs on, made from the store (default: the store itself). */
  readonly keyspace?: (store: Store) => Keyspace;
  /** Why new work is refused now (memory pressure), read at every command. */
  readonly refusal?: () => string | undefined;
}

export async function executorFixture(options: ExecutorFixtureOptions = {}): Promise<ExecutorFixture> {
  const store = await Store.open({ engine: new MemoryEngine(), shards: 4, nodeId: 'test-node', ...options.store });
  const stats = new CommandStats();
  const now = options.now ?? Date.now;
  const clients = new ClientRegistry(now);
  const shutdowns = { count: 0 };
  const executor = new CommandExecutor({
    store: options.keyspace?.(store) ?? store,
    stats,
    clients,
    now,
    limits: { maxValueBytes: options.maxValueBytes ?? 1024 * 1024 },
    ...(options.refusal ? { refusal: options.refusal } : {}),
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
    executor,
    run: async (command) => executor.execute(command),
    close: () => store.close(),
  };
}

export const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');
export const str = (value: Uint8Array | undefined): string | undefined => value && Buffer.from(value).toString('utf8');
