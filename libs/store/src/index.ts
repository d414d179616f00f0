export { type LoadedOutboxRecord, type PersistOp, type ShardRange, type ShardScan, type StorageEngine } from './engine.js';
export { compareKeys, shardOf } from './key-order.js';
export { type CommitEvent, type Keyspace, type Update } from './keyspace.js';
export { MemoryEngine } from './memory-engine.js';
export { StoreError, type StoreErrorCode } from './errors.js';
export { FORMAT as STORAGE_FORMAT } from './metadata.js';
export { type OutboxRecord, type StoreChange } from './outbox.js';
export { RocksDbEngine, type RocksDbEngineOptions } from './rocksdb-engine.js';
export { type StorageFaultEvent, type StorageState, Store, type StoreOptions, type StoreOutbox } from './store.js';
