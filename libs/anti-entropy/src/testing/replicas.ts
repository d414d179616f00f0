/** Test support for the anti-entropy specs: in-memory replicas, writes, their roots and entries, and a transport into a responder. */
import { assign, type Entry, increment, remove, setAdd } from '#crdt';
import { toHex } from '#mst';
import { MemoryEngine, Store } from '#store';
import { Responder, type ResponderOptions } from '../responder.js';
import { type Transport } from '../session.js';

/** An in-memory replica (the real store over the memory engine). */
export const openReplica = (nodeId: string, shards = 4): Promise<Store> =>
  Store.open({ engine: new MemoryEngine(), shards, nodeId, outbox: false });

export const set = (store: Store, key: string, value: string): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => assign(prev, Buffer.from(value), stamp));
export const del = (store: Store, key: string): Promise<Entry | undefined> => store.update(key, (prev, stamp) => remove(prev, stamp));
export const inc = (store: Store, key: string, by: bigint): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => increment(prev, by, stamp));
export const add = (store: Store, key: string, element: string): Promise<Entry | undefined> =>
  store.update(key, (prev, stamp) => setAdd(prev, Buffer.from(element), stamp));

/** Every shard's root, as hex: equal lists mean equal stores, tombstones and metadata included. */
export const roots = (store: Store): string[] => Array.from({ length: store.shardCount }, (_, i) => toHex(store.shardRoot(i)));

/** Every entry, tombstones included, by key. */
export function entries(store: Store): Map<string, Entry> {
  const out = new Map<string, Entry>();
  for (let shard = 0; shard < store.shardCount; shard++) for (const [key, entry] of store.shardEntries(shard)) out.set(key, entry);
  return out;
}

/** A transport straight into a responder over `peer`, counting what it carries. */
export function link(peer: Store, options: Omit<ResponderOptions, 'store'> = {}): { transport: Transport; responder: Responder; log: { requests: Uint8Array[] } } {
  const responder = new Responder({ store: peer, ...options });
  const log = { requests: [] as Uint8Array[] };
  return {
    responder,
    log,
    transport: async (request) => {
      log.requests.push(request);
      return responder.handle(request);
    },
  };
}
