import { type Entry, type NodeId, type Stamp } from '#crdt';
import { type MerkleSearchTree } from '#mst';
import { type Keyspace, type Update } from './keyspace.js';

/** How keys map to shards, and each shard's Merkle Search Tree root: what a replica shows its peers. */
export interface ShardedKeyspace {
  readonly nodeId: NodeId;
  readonly shardCount: number;
  shardOf(key: string): number;
  /** Root hash of a shard's Merkle Search Tree. */
  shardRoot(shard: number): Uint8Array;
}

/**
 * What the split deployment's shard service needs of a store: the shards' roots and a keyspace
 * scoped to the shards one process serves.
 */
export interface ShardHost extends ShardedKeyspace {
  /** The keyspace of some shards only (see Store.scope). */
  scope(shards: Iterable<number>): Keyspace;
}

/**
 * What anti-entropy needs of a replica: its trees (frozen snapshots for a session), entries,
 * truncation floors and tombstones per shard, and the ways a repair or a collection lands.
 */
export interface ReplicaStore extends ShardedKeyspace {
  /** The committed entry of a key, tombstones included. */
  read(key: string): Entry | undefined;
  /** The committed entries of several keys, in their order: one storage call for those not cached. */
  readMany(keys: readonly string[]): (Entry | undefined)[];
  /** A local write (a pull from a reference server stores what it read). */
  update(key: string, update: Update): Promise<Entry | undefined>;
  /** Merges another replica's state of a key; true when it changed anything. */
  merge(key: string, entry: Entry): Promise<boolean>;
  /** Applies another replica's truncation of a shard. */
  applyTruncate(shard: number, floor: Stamp): Promise<boolean>;
  /** A frozen view of a shard's tree that later writes do not change. */
  shardSnapshot(shard: number): MerkleSearchTree;
  /** After a walk of a snapshot that read many of its nodes: gives them back, down to the tree cache's budget. */
  trimSnapshot(snapshot: MerkleSearchTree): void;
  shardFloor(shard: number): Stamp;
  shardTombstones(shard: number): Generator<[string, Entry], void, undefined>;
  /** Forgets a key whose entry is still exactly the tombstone `stamp`. */
  collectTombstone(key: string, stamp: Stamp): Promise<boolean>;
}
