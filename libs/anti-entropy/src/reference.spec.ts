import { entryBytes } from '#crdt';
import { type KeyValuePeer, pullFromReference } from './reference.js';
import { openReplica, set } from './testing/replicas.js';

/** A peer holding plain values, as a reference MerkleKV server does; counts GETs in flight. */
function plainPeer(values: Record<string, string>): KeyValuePeer & { maxInFlight: number } {
  let inFlight = 0;
  const peer = {
    maxInFlight: 0,
    scan: async () => [...Object.keys(values), 'vanished'],
    get: async (key: string) => {
      peer.maxInFlight = Math.max(peer.maxInFlight, ++inFlight);
      await new Promise((r) => setImmediate(r));
      inFlight--;
      return key in values ? Buffer.from(values[key]!) : undefined;
    },
  };
  return peer;
}

describe('SYNC against a server without anti-entropy', () => {
  it('takes every key it lists, writes only what differs, keeps keys only we hold, bounded in flight', async () => {
    const store = await openReplica('n');
    try {
      await set(store, 'same', 'equal');
      await set(store, 'differs', 'mine');
      await set(store, 'ours-only', 'kept');
      const values = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, `value ${i}`]));
      const peer = plainPeer({ ...values, same: 'equal', differs: 'theirs' });
      const report = await pullFromReference(store, peer, 3);
      expect(report).toEqual({ keys: 53, changed: 51 });
      expect(peer.maxInFlight).toBe(3);
      const text = (key: string): string | undefined => {
        const entry = store.read(key);
        return entry && Buffer.from(entryBytes(entry) ?? []).toString();
      };
      expect(text('differs')).toBe('theirs');
      expect(text('k49')).toBe('value 49');
      expect(text('ours-only')).toBe('kept');
      expect(store.read('vanished')).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
