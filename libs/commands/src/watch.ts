import { type Entry, entryBytes, isLiveAt } from '#crdt';
import { type WatchEvent, type WatchFeed } from './command.js';
import { type CommandDeps, type Handlers } from './handlers.js';

/** WATCH: a feed of committed changes (from this node or replicated) under a key prefix. */
export function watchCommands({ store }: CommandDeps): Handlers<'WATCH'> {
  return {
    WATCH: ({ prefix }): WatchFeed => {
      let unsubscribe: (() => void) | undefined;
      return {
        prefix,
        start: (listener) => {
          unsubscribe ??= store.onCommit((events) => {
            // A truncation reaches every shard at once: one TRUNCATED per commit group.
            let truncated = false;
            for (const event of events) {
              if (event.kind === 'truncate') {
                if (!truncated) listener({ kind: 'truncated' });
                truncated = true;
                continue;
              }
              const watched = toWatchEvent(event.key, event.entry, prefix);
              if (watched) listener(watched);
            }
          });
        },
        stop: () => {
          unsubscribe?.();
          unsubscribe = undefined;
        },
      };
    },
  };
}

function toWatchEvent(key: string, entry: Entry, prefix: string): WatchEvent | undefined {
  if (!key.startsWith(prefix)) return undefined;
  return isLiveAt(entry, Date.now()) ? { kind: 'change', key, value: entryBytes(entry)! } : { kind: 'deleted', key };
}
