import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { MemoryEngine, RocksDbEngine, type StorageState, STORAGE_FORMAT, Store } from '#store';
import { Telemetry, traceparentOf } from '#telemetry';
import { MemoryPressure } from '../../shared/src/memory-pressure.js';
import { Readiness } from '../../shared/src/readiness.js';
import { NODE_CONFIG } from '../../shared/src/tokens.js';
import { storeMetrics } from './store-metrics.js';

async function openStore(config: NodeConfig, logger: Logger, telemetry: Telemetry, readiness: Readiness): Promise<Store> {
  // Half of the cache for RocksDB's blocks (pages of many keys each), a quarter for decoded
  // entries of the hottest keys (a hit costs no native call and no decode), a quarter for the
  // Merkle Search Trees' loaded nodes (the top of each tree stays in memory).
  const entryCacheBytes = Math.floor(config.cacheBytes / 4);
  const treeCacheBytes = Math.floor(config.cacheBytes / 4);
  const engine =
    config.engine === 'memory'
      ? new MemoryEngine()
      : new RocksDbEngine(config.dataDir, { blockCacheBytes: config.cacheBytes - entryCacheBytes - treeCacheBytes });
  let corrupt = 0;
  const store = await Store.open({
    engine,
    shards: config.shards,
    entryCacheBytes,
    treeCacheBytes,
    onScrubbed: ({ keys, repaired, error }) => {
      if (error !== undefined) logger.error('the scrub of the stored Merkle trees stopped', { keys, repaired, error });
      else if (repaired > 0) logger.warn('repaired the stored Merkle trees where they disagreed with the stored entries', { keys, repaired });
      else logger.info('the stored Merkle trees agree with the stored entries', { keys });
    },
    onUpgrade: ({ fromFormat, shardsDone, shards, keys }) =>
      logger.info('upgrading the data directory', { fromFormat, toFormat: STORAGE_FORMAT, shardsDone, shards, keys }),
    ...(config.nodeId === undefined ? {} : { nodeId: config.nodeId }),
    syncWrites: config.syncWrites,
    outbox: config.nats !== undefined,
    onCorruptRecord: (shard, key, error) => {
      corrupt++;
      logger.error('skipped an unreadable stored entry', { shard, key, error });
    },
    onStorageFault: (event) => {
      switch (event.kind) {
        case 'failed':
          logger.error('storage writes fail: refusing writes until they can resume', { error: event.error.message });
          break;
        case 'resumed':
          logger.warn('storage writes resumed', { downMs: event.downMs });
          break;
        case 'restart-required':
          logger.error('storage reopened, but a write reported as failed reached the disk: restart the node to load it', {
            error: event.error.message,
          });
          break;
      }
    },
    onClockDrift: (error) => logger.warn('a replica clock runs ahead of ours', { error: error.message }),
    onListenerError: (error) => logger.error('a commit listener failed', { error }),
    ...(telemetry.tracing.enabled ? { traceContext: () => traceparentOf() } : {}),
  });
  storeMetrics(telemetry.metrics, store, config.split.hostedShards);
  readiness.add({ name: 'storage', problem: () => storageProblem(store.storageState) });
  logger.info('store open', {
    engine: engine.kind,
    dataDir: engine.kind === 'rocksdb' ? config.dataDir : undefined,
    shards: store.shardCount,
    keys: store.liveKeys,
    corrupt,
  });
  return store;
}

function storageProblem(storage: StorageState): string | undefined {
  if (storage.state === 'ok') return undefined;
  const waiting = storage.restartRequired ? '; restart the node' : storage.waitingFor === undefined ? '' : `; waiting: ${storage.waitingFor}`;
  return `writes refused since ${new Date(storage.since).toISOString()}: ${storage.error}${waiting}`;
}

/** How often the heap is checked against V8's limit. */
const MEMORY_CHECK_MS = 250;

function watchMemory(store: Store, logger: Logger, readiness: Readiness): MemoryPressure {
  const pressure = new MemoryPressure({
    shed: () => store.shedCaches(),
    onChange: (active, { usedBytes, limitBytes }) =>
      active
        ? logger.warn('memory pressure: caches shed, new work refused until the heap shrinks', { usedBytes, limitBytes })
        : logger.info('memory pressure over: taking new work again', { usedBytes, limitBytes }),
  });
  pressure.watch(MEMORY_CHECK_MS);
  readiness.add({ name: 'memory', problem: () => pressure.refusal });
  return pressure;
}

/** Flushes and closes the store after every adapter has stopped taking requests. */
@Injectable()
class StoreCloser implements OnApplicationShutdown {
  constructor(
    private readonly store: Store,
    private readonly pressure: MemoryPressure,
    private readonly logger: Logger,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // A shed after the close would schedule a checkpoint on a closed store.
    this.pressure.stop();
    await this.store.close();
    this.logger.info('store closed');
  }
}

/** The shard actors over RocksDB (or memory, for the reference's in-memory engines). */
@Module({
  providers: [
    { provide: Store, useFactory: openStore, inject: [NODE_CONFIG, Logger, Telemetry, Readiness] },
    { provide: MemoryPressure, useFactory: watchMemory, inject: [Store, Logger, Readiness] },
    StoreCloser,
  ],
  exports: [Store, MemoryPressure],
})
export class StoreShardModule {}
