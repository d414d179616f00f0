import { assign, entryBytes, isLiveAt } from '#crdt';
import { checkValueSize } from './limits.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded } from './store-errors.js';

/** MGET, MSET, EXISTS, SCAN. */
export function bulkCommands({ store, limits, now = Date.now }: CommandDeps): Handlers<'MGET' | 'MSET' | 'EXISTS' | 'SCAN'> {
  return {
    MGET: ({ keys }) => {
      const at = now();
      return store.readMany(keys).map((entry) => (isLiveAt(entry, at) ? entryBytes(entry) : undefined));
    },
    MSET: ({ pairs }) => {
      for (const [, value] of pairs) checkValueSize(limits, value);
      // Queued in one call, the writes share one commit group: all of them land or none.
      return guarded(undefined, async () => {
        await Promise.all(pairs.map(([key, value]) => store.update(key, (prev, stamp) => assign(prev, value, stamp))));
      });
    },
    EXISTS: ({ keys }) => {
      const at = now();
      return store.readMany(keys).reduce((n, entry) => (isLiveAt(entry, at) ? n + 1 : n), 0);
    },
    SCAN: ({ prefix, after, limit }) => store.scanKeys(prefix, after, limit),
  };
}
