import { assign, entryBytes, type Entry, isLive, remove } from '#crdt';
import { checkValueSize } from './limits.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded, toKvError } from './store-errors.js';

/** GET, SET, DEL, APPEND, PREPEND: last-writer-wins registers. */
export function stringCommands({ store, limits }: CommandDeps): Handlers<'GET' | 'SET' | 'DEL' | 'APPEND' | 'PREPEND'> {
  const concatWrite = (key: string, value: Uint8Array, atEnd: boolean): Promise<Uint8Array> => {
    checkValueSize(limits, value);
    return guarded(key, async () => {
      const entry = await store.update(key, (prev, stamp) => {
        const current = currentBytes(prev);
        const next = atEnd ? Buffer.concat([current, value]) : Buffer.concat([value, current]);
        checkValueSize(limits, next);
        return assign(prev, next, stamp);
      });
      return (entry && entryBytes(entry)) ?? EMPTY;
    });
  };

  return {
    GET: ({ key }) => {
      const entry = store.readBatched(key);
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
        await store.update(key, (prev, stamp) => {
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

const valueOf = (entry: Entry | undefined): Uint8Array | undefined => entry && entryBytes(entry);
