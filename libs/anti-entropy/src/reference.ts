/**
 * `SYNC host port` against a server that has no anti-entropy (the reference MerkleKV server, or
 * one of ours running standalone): its values carry no clock, so there is nothing to merge. We
 * take its keys (SCAN) and values (GET) as writes made here now, as the reference server's own
 * SYNC does, and replicate them like any local write. Keys only we hold are kept: without
 * tombstones on the other side, their absence there says nothing.
 */
import { assign, entryBytes, isLive } from '#crdt';
import { type ReplicaStore } from '#store';

/** The peer as the fallback sees it; the adapter bounds the connections behind `get`. */
export interface KeyValuePeer {
  /** Every key the peer holds, in any order. */
  scan(): Promise<readonly string[]>;
  /** A key's value; undefined when it is gone by now. Called up to `concurrency` times at once. */
  get(key: string): Promise<Uint8Array | undefined>;
}

export interface ReferencePullReport {
  /** Keys the peer listed. */
  readonly keys: number;
  /** Keys written here because their value differed or was missing. */
  readonly changed: number;
}

/** Pulls every key of `peer` into `store`; resolves once every written value is durable. */
export async function pullFromReference(store: ReplicaStore, peer: KeyValuePeer, concurrency: number): Promise<ReferencePullReport> {
  const keys = await peer.scan();
  let next = 0;
  let changed = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const key = keys[next++]!;
      const value = await peer.get(key);
      if (value === undefined) continue;
      const local = store.read(key);
      if (local !== undefined && isLive(local) && Buffer.from(entryBytes(local)!).equals(value)) continue;
      await store.update(key, (prev, stamp) => assign(prev, value, stamp));
      changed++;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, keys.length)) }, worker));
  return { keys: keys.length, changed };
}
