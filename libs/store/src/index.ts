export { type LoadedOutboxRecord, type LoadedRecord, type PersistOp, type StorageEngine } from './engine.js';
export { compareKeys, shardOf } from './key-order.js';
export { MemoryEngine } from './memory-engine.js';
export { type OutboxRecord, type StoreChange } from './outbox.js';
export { RocksDbEngine } from './rocksdb-engine.js';
export { type CommitEvent, type Keyspace, Store, StoreError, type StoreOptions, type StoreOutbox, type Update } from './store.js';
