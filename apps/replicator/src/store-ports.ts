import { type ChangeRecord, type ChangeSink, type ChangeSource } from '#replication';
import { type OutboxRecord, type Store, type StoreOutbox } from '#store';

/** The store's outbox as the publisher's change source: records named by this node's id. */
export function outboxSource(store: Store, outbox: StoreOutbox): ChangeSource {
  const origin = store.nodeId;
  const toChange = ({ seq, change }: OutboxRecord): ChangeRecord =>
    change.kind === 'entry'
      ? { kind: 'entry', origin, seq, shard: change.shard, key: change.key, entry: change.entry }
      : { kind: 'truncate', origin, seq, shard: change.shard, floor: change.floor };
  return {
    read: (afterSeq, limit) => outbox.read(afterSeq, limit).map(toChange),
    acknowledge: (seqs) => outbox.acknowledge(seqs),
    onAppend: (listener) => outbox.onAppend(listener),
    get depth() {
      return outbox.depth;
    },
  };
}

/**
 * Other nodes' changes merged into the store; resolves once the merge is durable. A store-shard
 * process hosts some shards only: the others' changes are passed over (and acknowledged), since
 * nats-server 2.9 lets a consumer filter on one subject only.
 */
export function storeSink(store: Store, hosted: ReadonlySet<number>): ChangeSink {
  return {
    apply: async (change) => {
      if (!hosted.has(change.shard)) return;
      if (change.kind === 'entry') await store.merge(change.key, change.entry);
      else await store.applyTruncate(change.shard, change.floor);
    },
  };
}
