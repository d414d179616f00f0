import { asOf, counterValue, increment } from '#crdt';
import { type CommandDeps, type Handlers } from './handlers.js';
import { guarded } from './store-errors.js';

/** INC/INCR/DEC/DECR: PN-counters, so that concurrent increments on different nodes all count. */
export function numericCommands({ store }: CommandDeps): Handlers<'INCR'> {
  return {
    INCR: ({ key, amount }) =>
      guarded(key, async () => {
        const entry = await store.update(key, (prev, stamp) => increment(asOf(prev, stamp.hlc.wall), amount, stamp));
        if (entry?.type !== 'counter') throw new Error(`increment left key '${key}' without a counter`);
        return counterValue(entry);
      }),
  };
}
