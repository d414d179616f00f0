import { type ChangeRecord, type ChangeSink, type ChangeSource, traceMerge } from '#replication';
import { type OutboxRecord, type Store, type StoreOutbox } from '#store';
import { type Tracing } from '#telemetry';

/** The outbox as a change source, and the traceparent of the write behind each change it handed out. */
export interface TracedChangeSource extends ChangeSource {
  traceOf(change: ChangeRecord): string | undefined;
}

/** The store's outbox as the publisher's change source: records named by this node's id. */
export function outboxSource(store: Store, outbox: StoreOutbox): TracedChangeSource {
  const origin = store.nodeId;
  // Only traced writes' records have a trace: with tracing off this map stays empty.
  const traces = new WeakMap<ChangeRecord, string>();
  const toChange = ({ seq, change, trace, written }: OutboxRecord): ChangeRecord => {
    const record: ChangeRecord =
      change.kind === 'entry'
        ? { kind: 'entry', origin, seq, shard: change.shard, key: change.key, entry: change.entry, written }
        : { kind: 'truncate', origin, seq, shard: change.shard, floor: change.floor };
    if (trace !== undefined) traces.set(record, trace);
    return record;
  };
  return {
    traceOf: (change) => traces.get(change),
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
export function storeSink(store: Store, hosted: ReadonlySet<number>, tracing: Tracing): ChangeSink {
  return {
    apply: async (change) => {
      if (!hosted.has(change.shard)) return;
      await traceMerge(tracing, change, () => (change.kind === 'entry' ? store.merge(change.key, change.entry) : store.applyTruncate(change.shard, change.floor)));
    },
  };
}
