import { type Entry, type Hlc, type NodeId, type Stamp } from '#crdt';

/**
 * One replicated change, as it travels on NATS. `seq` is the origin node's outbox sequence
 * (monotonic per node, never reused), so `${origin}:${seq}` identifies a change for JetStream's
 * de-duplication. An `entry` change carries a CRDT state (possibly partial, e.g. one node's
 * counter component) that receivers merge; a `truncate` carries the shard's new floor.
 */
export type ChangeRecord =
  | {
      readonly kind: 'entry';
      readonly origin: NodeId;
      readonly seq: bigint;
      readonly shard: number;
      readonly key: string;
      readonly entry: Entry;
      /**
       * The clock of the write behind the change, when the origin knows it. A counter's or a set's
       * stamp is its epoch (when it started), so only this dates such a change: it travels in
       * the message's `MerkleKV-Written` header (see change-codec.ts).
       */
      readonly written?: Hlc;
    }
  | {
      readonly kind: 'truncate';
      readonly origin: NodeId;
      readonly seq: bigint;
      readonly shard: number;
      readonly floor: Stamp;
    };

/** The local node's outbox, as the publisher sees it (implemented by the store). */
export interface ChangeSource {
  /** Unacknowledged records with seq > `afterSeq`, oldest first, at most `limit`. */
  read(afterSeq: bigint, limit: number): readonly ChangeRecord[];
  /** Deletes acknowledged records durably. */
  acknowledge(seqs: readonly bigint[]): Promise<void>;
  /** Called after records were appended (committed). Returns the unsubscribe function. */
  onAppend(listener: () => void): () => void;
  /** Records not yet acknowledged. */
  readonly depth: number;
}

/**
 * Where other nodes' changes are merged (implemented by the store). Calls come in stream order
 * and overlap, changes of one shard included: a sink that cares about order keeps its calls'.
 */
export interface ChangeSink {
  /** Merges a remote change; resolves once the merge is durable (then the message may be acked). */
  apply(change: ChangeRecord): Promise<void>;
}
