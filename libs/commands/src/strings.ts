import { asOf, assign, entryBytes, type Entry, isLive, isLiveAt, remove } from '#crdt';
import { checkValueSize } from './limits.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded, toKvError } from './store-errors.js';

/** GET, SET, DEL, APPEND, PREPEND: last-writer-wins registers. */
export function stringCommands({ store, limits, now = Date.now }: CommandDeps): Handlers<'GET' | 'SET' | 'DEL' | 'APPEND' | 'PREPEND'> {
  const concatWrite = (key: string, value: Uint8Array, atEnd: boolean): Promise<Uint8Array> => {
    checkValueSize(limits, value);
    return guarded(key, async () => {
      const entry = await store.update(key, (stored, stamp) => {
        const prev = asOf(stored, stamp.hlc.wall);
        const current = currentBytes(prev);
        const next = atEnd ? Buffer.concat([current, value]) : Buffer.concat([value, current]);
        checkValueSize(limits, next);
        // As in Redis, appending keeps the key's expiry (and its memcached flags).
        return assign(prev, next, stamp, prev?.type === 'tombstone' ? undefined : prev);
      });
      return (entry && entryBytes(entry)) ?? EMPTY;
    });
  };

  return {
    GET: ({ key }) => {
      const entry = store.readBatched(key);
      const valueOf = (e: Entry | undefined): Uint8Array | undefined => (isLiveAt(e, now()) ? entryBytes(e) : undefined);
      return entry instanceof Promise ? entry.then(valueOf, (err: unknown) => Promise.reject(toKvError(err, key))) : valueOf(entry);
    },
    SET: ({ key, value }) => {
      checkValueSize(limits, value);
      return guarded(key, async () => {
        await store.update(key, (prev, stamp) => assign(prev, value, stamp));
      });
    },
    DEL: ({ key }) =>
      guarded(key, async () => {
        let existed = false;
        await store.update(key, (stored, stamp) => {
          const prev = asOf(stored, stamp.hlc.wall);
          existed = isLive(prev);
          return existed ? remove(prev, stamp) : undefined;
        });
        return existed;
      }),
    APPEND: ({ key, value }) => concatWrite(key, value, true),
    PREPEND: ({ key, value }) => concatWrite(key, value, false),
  };
}

const EMPTY = new Uint8Array(0);

function currentBytes(prev: Entry | undefined): Uint8Array {
  return (prev && entryBytes(prev)) ?? EMPTY;
}
