import { type LoadedOutboxRecord, type LoadedRecord, type PersistOp, type StorageEngine } from './engine.js';

/** The reference server's in-memory engines (`rwlock`, `kv`): nothing survives a restart. */
export class MemoryEngine implements StorageEngine {
  readonly kind = 'memory';
  private readonly meta = new Map<string, Uint8Array>();

  async open(): Promise<void> {}

  async *load(): AsyncIterable<LoadedRecord> {}

  async *loadOutbox(): AsyncIterable<LoadedOutboxRecord> {}

  async write(ops: readonly PersistOp[], _sync: boolean): Promise<void> {
    for (const op of ops) if (op.type === 'meta-put') this.meta.set(op.name, op.value);
  }

  async getMeta(name: string): Promise<Uint8Array | undefined> {
    return this.meta.get(name);
  }

  async close(): Promise<void> {}
}
