import {
  asOf,
  assign,
  counterValue,
  type Entry,
  type EntryAttributes,
  entryBytes,
  entryCas,
  expiresAt,
  increment,
  isLive,
  isLiveAt,
  type LiveEntry,
  type Mutation,
  remove,
  type Stamp,
  touch,
  UINT64_MAX,
  parseUint64,
} from '#crdt';
import { type AdjustResult, type CommandOf, type Item, type RemoveResult, type StoreResult, type TouchResult } from './command.js';
import { KvError } from './errors.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { checkValueSize } from './limits.js';
import { guarded, toKvError } from './store-errors.js';

const TWO_POW_64 = 1n << 64n;

/**
 * Items: values with client flags, an expiry and a CAS value, and the conditional writes on them
 * (memcached's storage commands, HTTP's If-Match/If-None-Match, EXPIRE/TTL/PERSIST).
 *
 * Every condition is decided inside the key's update, against the key's state in the commit
 * loop: on one node, a compare-and-set is linearizable per key (of two racing writes with the
 * same CAS value, exactly one stores). A write judges expiry by its own stamp's wall time, which
 * is at least the node's clock; an expired key is, to every write, a deleted one (see `asOf`).
 */
export function itemCommands({ store, limits, now = Date.now }: CommandDeps): Handlers<'STORE' | 'REMOVE' | 'TOUCH' | 'ADJUST' | 'LOOKUP'> {
  /** Runs `decide` on the key's live state (undefined when absent or expired) in its update; resolves with what it returned. */
  const conditional = <R>(key: string, decide: (live: LiveEntry | undefined, prev: Entry | undefined, stamp: Stamp) => { result: R; mutation?: Mutation }): Promise<R> =>
    guarded(key, async () => {
      let result: R | undefined;
      await store.update(key, (stored, stamp) => {
        const prev = asOf(stored, stamp.hlc.wall);
        const decision = decide(isLive(prev) ? (prev as LiveEntry) : undefined, prev, stamp);
        result = decision.result;
        return decision.mutation;
      });
      return result as R;
    });

  return {
    STORE: (command) => {
      checkValueSize(limits, command.value);
      return conditional(command.key, (live, prev, stamp): { result: StoreResult; mutation?: Mutation } => {
        const refused = casRefusal(live, command.cas) ?? modeRefusal(live, command.mode);
        if (refused) return { result: { outcome: refused } };
        const mutation = storeMutation(command, live, prev, stamp, (value) => checkValueSize(limits, value));
        const entry = mutation.entry;
        return { result: { outcome: 'STORED', get cas() { return casOf(entry); } }, mutation };
      });
    },

    REMOVE: ({ key, cas }) =>
      conditional(key, (live, prev, stamp): { result: RemoveResult; mutation?: Mutation } => {
        const refused = live === undefined ? 'NOT_FOUND' : casRefusal(live, cas);
        if (refused) return { result: { outcome: refused } };
        return { result: { outcome: 'DELETED' }, mutation: remove(prev, stamp) };
      }),

    TOUCH: ({ key, expiresAt: at }) =>
      conditional(key, (live, _prev, stamp): { result: TouchResult; mutation?: Mutation } => {
        if (live === undefined) return { result: { outcome: 'NOT_FOUND' } };
        const mutation = touch(live, at ?? 0, stamp);
        return { result: { outcome: 'TOUCHED', item: itemOf(mutation.entry as LiveEntry) }, mutation };
      }),

    ADJUST: (command) =>
      conditional(command.key, (live, prev, stamp): { result: AdjustResult; mutation?: Mutation } => {
        if (live === undefined) {
          if (command.initial === undefined) return { result: { outcome: 'NOT_FOUND' } };
          const value = command.initial.value;
          const expiry = command.initial.expiresAt === undefined ? undefined : { at: command.initial.expiresAt, stamp };
          const mutation = assign(prev, Buffer.from(value.toString(), 'latin1'), stamp, { expiry });
          return { result: adjustedTo(value, mutation.entry), mutation };
        }
        const refused = casRefusal(live, command.cas);
        if (refused) return { result: { outcome: refused } };
        const { current, next } = adjusted(live, command.delta);
        const mutation = increment(live, next - current, stamp, 'uint64');
        return { result: adjustedTo(next, mutation.entry), mutation };
      }),

    LOOKUP: ({ keys }) => {
      const at = now();
      if (keys.length === 1) {
        const entry = store.readBatched(keys[0]!);
        const found = (e: Entry | undefined): (Item | undefined)[] => [isLiveAt(e, at) ? itemOf(e) : undefined];
        return entry instanceof Promise ? entry.then(found, (err: unknown) => Promise.reject(toKvError(err, keys[0]))) : found(entry);
      }
      try {
        return store.readMany(keys).map((e) => (isLiveAt(e, at) ? itemOf(e) : undefined));
      } catch (err) {
        throw toKvError(err);
      }
    },
  };
}

/** A live entry as the item commands show it. */
export function itemOf(e: LiveEntry): Item {
  const at = expiresAt(e);
  return {
    value: entryBytes(e) ?? EMPTY,
    flags: e.flags ?? 0,
    get cas() {
      return casOf(e);
    },
    ...(at === undefined ? {} : { expiresAt: at }),
  };
}

function adjustedTo(value: bigint, entry: Entry): AdjustResult {
  return {
    outcome: 'ADJUSTED',
    value,
    get cas() {
      return casOf(entry);
    },
  };
}

/**
 * CAS values of the entries read or written lately. A CAS value is a SHA-256 digest of the entry;
 * entries never change and the store hands out the same object for a key until its next write,
 * so a key read again and again is hashed once, not on every read. Results carry it as a getter:
 * most replies never show it (memcached's text get, set and incr), and a digest per write (and
 * per first read of a key written) was about 5% of the write path's CPU in a profile.
 */
const CAS_VALUES = new WeakMap<Entry, bigint>();

function casOf(e: Entry): bigint {
  let cas = CAS_VALUES.get(e);
  if (cas === undefined) {
    cas = entryCas(e);
    CAS_VALUES.set(e, cas);
  }
  return cas;
}

function casRefusal(live: LiveEntry | undefined, cas: bigint | undefined): 'NOT_FOUND' | 'EXISTS' | undefined {
  if (cas === undefined) return undefined;
  if (live === undefined) return 'NOT_FOUND';
  return casOf(live) === cas ? undefined : 'EXISTS';
}

function modeRefusal(live: LiveEntry | undefined, mode: CommandOf<'STORE'>['mode']): 'NOT_STORED' | undefined {
  if (mode === 'set') return undefined;
  if (mode === 'add') return live === undefined ? undefined : 'NOT_STORED';
  return live === undefined ? 'NOT_STORED' : undefined;
}

function storeMutation(
  { mode, value, flags, expiresAt: at }: CommandOf<'STORE'>,
  live: LiveEntry | undefined,
  prev: Entry | undefined,
  stamp: Stamp,
  checkSize: (value: Uint8Array) => void,
): Mutation {
  if ((mode === 'append' || mode === 'prepend') && live !== undefined) {
    const current = entryBytes(live) ?? EMPTY;
    const joined = mode === 'append' ? Buffer.concat([current, value]) : Buffer.concat([value, current]);
    checkSize(joined);
    // memcached: appending keeps the item's flags and expiry.
    return assign(prev, joined, stamp, { expiry: live.expiry, flags: live.flags });
  }
  const attributes: EntryAttributes = { flags, expiry: at === undefined ? undefined : { at, stamp } };
  return assign(prev, value, stamp, attributes);
}

/**
 * memcached's arithmetic on a key's value seen as an unsigned 64-bit number: incr wraps at 2^64,
 * decr stops at 0. The replicated counter is told the difference to its own value, so that a
 * value it holds outside that range (concurrent decrements on different nodes joined below 0) is
 * first brought back into it: memcached's view is what each node adjusts from.
 */
function adjusted(live: LiveEntry, delta: bigint): { current: bigint; next: bigint } {
  const current = live.type === 'counter' ? counterValue(live) : live.type === 'register' ? parseUint64(live.value) : undefined;
  if (current === undefined) throw new KvError('NOT_A_NUMBER', 'cannot increment or decrement non-numeric value');
  const seen = current < 0n ? 0n : current > UINT64_MAX ? UINT64_MAX : current;
  const next = delta >= 0n ? (seen + delta) % TWO_POW_64 : seen + delta < 0n ? 0n : seen + delta;
  return { current, next };
}


const EMPTY = new Uint8Array(0);
