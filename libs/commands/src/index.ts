export { ClientHandle, ClientRegistry } from './clients.js';
export {
  type AdjustResult,
  type ClientInfo,
  type Command,
  type CommandName,
  type CommandOf,
  type Item,
  type RemoveResult,
  type ResultOf,
  type StoreMode,
  type StoreResult,
  type TouchResult,
  type WatchEvent,
  type WatchFeed,
  WRITE_COMMANDS,
} from './command.js';
export { isKvError, KvError, type KvErrorCode } from './errors.js';
export { CommandExecutor, type CommandPort } from './executor.js';
export type { ClusterPort, CommandDeps, Limits, PeerSync, Reply, ServerPort } from './handlers.js';
export { EMPTY_REFERENCE_ROOT, ReferenceMerkleBuilder, referenceLeafHash, referenceMerkleRoot } from './reference-hash.js';
export { ENTRY_OVERHEAD_BYTES, humanUptime } from './server.js';
export { CommandStats } from './stats.js';
export { checkKey, checkValueSize } from './limits.js';
export { toKvError } from './store-errors.js';
export { EXPIRED, MEMCACHED_RELATIVE_LIMIT_SECONDS, expiryAfterSeconds, hasExpired, memcachedExpiry, remainingSeconds } from './expiry.js';
export { mstRootsDigest } from './mst-roots-digest.js';
export { type ShardChannel, type ShardInbox, ShardRouter, type ShardRouterDeps } from './split/router.js';
export { ShardService } from './split/shard-service.js';
export { type ShardFigures, SHARD_WIRE_VERSION } from './split/wire.js';
export { CommandTelemetry, instrumentShardChannel, type Protocol, tracedKeyspace, traceShardServe } from './telemetry.js';
