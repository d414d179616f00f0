import { assign, entryBytes, isLive } from '#crdt';
import { checkValueSize } from './limits.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded } from './store-errors.js';

/** MGET, MSET, EXISTS, SCAN. */
export function bulkCommands({ store, limits }: CommandDeps): Handlers<'MGET' | 'MSET' | 'EXISTS' | 'SCAN'> {
  return {
    MGET: ({ keys }) => store.readMany(keys).map((entry) => entry && entryBytes(entry)),
    MSET: ({ pairs }) => {
      for (const [, value] of pairs) checkValueSize(limits, value);
      // Queued in one call, the writes share one commit group: all of them land or none.
      return guarded(undefined, async () => {
        await Promise.all(pairs.map(([key, value]) => store.update(key, (prev, stamp) => assign(prev, value, stamp))));
      });
    },
    EXISTS: ({ keys }) => store.readMany(keys).reduce((n, entry) => (isLive(entry) ? n + 1 : n), 0),
    SCAN: ({ prefix, after, limit }) => store.scanKeys(prefix, after, limit),
  };
}
