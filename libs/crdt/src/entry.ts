/*
 * Entries and how replicas converge on them
 * =========================================
 *
 * Every key holds one Entry: an LWW register (bytes), a PN-counter, an OR-set (add-wins) or a
 * tombstone (a delete). Replicas exchange entries, whole or partial ("changes"), along any path
 * (JetStream, anti-entropy, replay), in any order, any number of times, and fold each in with
 * `merge`. Merge is a lattice join (commutative, associative, idempotent), so every replica that
 * has seen the same set of changes holds the same entry, whatever the order and duplication.
 *
 * The lattice is a lexicographic product: first a total order of *versions* decides which entry
 * wins outright; only entries of equal version (same type, same stamp) are joined field by field.
 *
 * Version = (stamp, rank). A stamp is (HLC, node id), unique per write. Rank by type:
 *   register 0 < tombstone 1 < counter 2 < set 3.
 * - Registers and tombstones carry the stamp of the write that made them: newer write wins (LWW).
 * - Counters and sets carry an EPOCH instead: the stamp of the entry they replaced (ZERO_STAMP for
 *   an absent key). Their rank puts them "just above" that entry: a counter derived from X beats
 *   X, and loses to anything stamped later than X. Increments and set operations do not move the
 *   epoch, so all nodes that start from the same predecessor work on the same counter (or set)
 *   and their concurrent updates join instead of overwriting each other. The price is LWW at the
 *   type boundary: a SET or DEL stamped after the epoch replaces the counter even when some
 *   increment happened later in wall time. Counter and set derived from the same predecessor
 *   concurrently (e.g. both from an absent key): the set wins by rank, deterministically.
 * - Equal versions: registers of the same stamp are the same write, so their bytes are equal by
 *   construction; to stay a join regardless, the greater bytes win. Tombstones: identical.
 *   Counters: max of base (equal by construction) and per-node max of inc and dec totals. Sets:
 *   the OR-set join (see orset.ts).
 *
 * Local operations return a Mutation: the new entry, and the change to replicate, chosen so that
 * prev ⊔ change = entry and change ⊑ entry (so publishing it never adds anything the local
 * replica does not hold). For counters the change carries only this node's absolute totals,
 * for sets just the new tag or the removed tags: small, and idempotent.
 * - assign (SET) and remove (DEL) make a register / tombstone with the caller's fresh stamp.
 * - increment (INC/DEC) on a counter adds to this node's own total. On anything else it starts a
 *   counter whose epoch is the predecessor's stamp: from a register its base is the register
 *   value parsed as a signed 64-bit decimal (NOT_A_NUMBER otherwise), from a tombstone or an
 *   absent key base 0; on a set it fails with WRONG_TYPE. Hence concurrent INCs from the same
 *   predecessor all count, and DEL then INC starts again from 0 (epoch = the tombstone's stamp).
 *   A result outside the int64 range fails with OVERFLOW and changes nothing. (Concurrent
 *   increments on different nodes can still join to a value outside int64: reads return it
 *   exactly; a further local increment that does not bring it back in range fails.)
 * - setAdd on a set, a tombstone or an absent key adds an element (a new set takes the
 *   predecessor's stamp as epoch); setAdd/setRemove on a register or counter fail with
 *   WRONG_TYPE (SET or DEL first). setRemove of an absent element, or on a tombstone or an absent
 *   key, is a no-op: it returns prev itself, or ZERO_TOMBSTONE (the lattice bottom, not live) for
 *   an absent key. An empty set is still a live entry (GET returns no bytes).
 * - Whenever `mutation.entry === prev`, nothing changed: there is nothing to store or publish.
 *
 * Stamps must be fresh: assign, remove and setAdd throw RangeError when the stamp is not greater
 * than every stamp in prev (`latestStamp`: for a set that includes its tags), because such a
 * write would silently lose against its own predecessor, or reuse a tag. Feed the
 * HybridLogicalClock `latestHlc(e)` of every entry merged (observe) or loaded at start-up
 * (advancePast), and this never fires.
 *
 * Attributes: a live entry may carry an EXPIRY and memcached's client FLAGS, fields of the entry
 * like its value, so they travel and merge with it along every path.
 * - The expiry is an absolute time (ms since the Unix epoch; 0 = never) with the stamp of the
 *   write that set it: an LWW register of its own inside the entry. A write of the value (SET
 *   with a TTL, memcached's set) sets it with its own stamp; TOUCH/EXPIRE/PERSIST set it with a
 *   fresh stamp and leave the version alone, so a touch and a concurrent increment both count.
 *   Entries of equal version join the expiry by (stamp, time), the greater wins; a new version
 *   brings its own (none for a plain SET, which clears it; APPEND and a counter derived from a
 *   register keep the predecessor's). Absent is the bottom. So the product stays a lattice, and
 *   since the time is absolute, every replica holding the same entry expires it at the same
 *   moment of its clock (clock skew between machines shifts that moment, as it shifts LWW).
 * - Flags change only with a new version (memcached sets them with the value): entries of equal
 *   version carry equal flags by construction; the join takes the greater to stay a join anyway.
 * - An entry whose expiry has passed reads as absent (`isLiveAt`), and every local operation
 *   treats it as deleted (`asOf`): its EXPIRED FORM is a tombstone derived from the entry alone,
 *   stamped at the expiry time with node '' (sorting below any node's write of that millisecond),
 *   or just past the entry's latest stamp when that is later. Every replica derives the same
 *   tombstone, so the store's sweeper replaces expired entries by it without publishing anything,
 *   and merge with it is a join like any other: an expired entry loses to it, a write stamped from
 *   the expiry time on beats it. A touch that reaches a replica after the key expired there
 *   (stamped before the expiry) does not bring it back: the expired form outranks the version.
 *
 * Tombstones are entries like any other here; when they may be collected is the store's concern
 * (only once every replica has seen them, or an old value could come back).
 *
 * Entries are immutable values: never mutate one, or the bytes given to assign/setAdd, after the
 * fact. Merge returns `local` itself when `remote` adds nothing (and `remote` itself when it
 * already is the join), so `merge(a, b) === a` detects a no-op without comparing contents.
 */
import { CrdtError } from './errors.js';
import { addToCounter, counterValue, type CounterRange, mergeCounters, newCounter, parseBase } from './counter.js';
import { addTag, mergeSets, newSet, removeElement } from './orset.js';
import { type Hlc, MAX_LOGICAL, compareHlc } from './hlc.js';
import { type NodeId, type Stamp, ZERO_STAMP, compareStamps } from './stamp.js';

export type Entry = RegisterEntry | CounterEntry | SetEntry | TombstoneEntry;
export type EntryType = Entry['type'];
/** The entries that hold a value: everything but a tombstone. */
export type LiveEntry = RegisterEntry | CounterEntry | SetEntry;

/**
 * When a key expires, and which write said so: a last-writer-wins field of its own inside the
 * entry (so a touch changes it without making a new version of the value).
 */
export interface Expiry {
  /** ms since the Unix epoch; 0: never (a PERSIST, or a touch that took the expiry away). */
  readonly at: number;
  /** The write that set it: the value's own write, or a later touch. */
  readonly stamp: Stamp;
}

/** What a live entry carries besides its value. Absent fields are the bottom: no expiry, flags 0. */
export interface EntryAttributes {
  readonly expiry?: Expiry;
  /** memcached's 32-bit client flags, 1..2^32-1 (absent when 0). */
  readonly flags?: number;
}

/** LWW register. */
export interface RegisterEntry extends EntryAttributes {
  readonly type: 'register';
  /** The write that made it. */
  readonly stamp: Stamp;
  readonly value: Uint8Array;
}

/** PN-counter. `stamp` is its EPOCH: the stamp of the entry it replaced (ZERO_STAMP if the key was absent). */
export interface CounterEntry extends EntryAttributes {
  readonly type: 'counter';
  readonly stamp: Stamp;
  /** The value the counter started from (a parsed register, or 0); in int64 range. */
  readonly base: bigint;
  /** Each node's total of increments: > 0, ascending node order. */
  readonly inc: ReadonlyMap<NodeId, bigint>;
  /** Each node's total of decrements (as positive numbers): > 0, ascending node order. */
  readonly dec: ReadonlyMap<NodeId, bigint>;
}

/** OR-set, add-wins (see orset.ts). `stamp` is its EPOCH, as for counters. */
export interface SetEntry extends EntryAttributes {
  readonly type: 'set';
  readonly stamp: Stamp;
  /**
   * Live elements: key = the element's bytes as a latin1 string (`elementKey`), value = its live
   * add-tags (stamps of the adds), ascending, never empty. Keys in ascending order.
   */
  readonly elements: ReadonlyMap<string, readonly Stamp[]>;
  /** Add-tags removed so far, ascending; none of them is live. */
  readonly removed: readonly Stamp[];
}

/** A delete. */
export interface TombstoneEntry {
  readonly type: 'tombstone';
  readonly stamp: Stamp;
}

/** The lattice bottom: merging it into any entry built by this module changes nothing. Not live. */
export const ZERO_TOMBSTONE: TombstoneEntry = Object.freeze({ type: 'tombstone', stamp: ZERO_STAMP });

const RANK: Readonly<Record<EntryType, number>> = { register: 0, tombstone: 1, counter: 2, set: 3 };

/**
 * The greatest stamp anywhere in an entry: its stamp, and for a set every add-tag and removed
 * tag. Feed `latestStamp(e).hlc` to the clock (observe for remote entries, advancePast at
 * start-up) so that later local stamps exceed everything the entry holds.
 */
export function latestStamp(e: Entry): Stamp {
  let max = e.stamp;
  if (e.type !== 'tombstone' && e.expiry !== undefined && compareStamps(e.expiry.stamp, max) > 0) max = e.expiry.stamp;
  if (e.type === 'set') {
    for (const tags of e.elements.values()) {
      const t = tags[tags.length - 1];
      if (t !== undefined && compareStamps(t, max) > 0) max = t;
    }
    const r = e.removed[e.removed.length - 1];
    if (r !== undefined && compareStamps(r, max) > 0) max = r;
  }
  return max;
}

/** The HLC of `latestStamp(e)`. */
export function latestHlc(e: Entry): Hlc {
  return latestStamp(e).hlc;
}

/** What the version order looks at: enough to tell, without the state, which entry wins outright. */
export type Version = Pick<Entry, 'type' | 'stamp'>;

/** The version order that decides between entries before any field-wise join. */
export function compareVersions(a: Version, b: Version): number {
  return compareStamps(a.stamp, b.stamp) || RANK[a.type] - RANK[b.type];
}

/** Lattice join. Commutative, associative, idempotent. Returns `local` itself (same object) when `remote` adds nothing, so callers can detect a no-op with ===. */
export function merge(local: Entry | undefined, remote: Entry): Entry {
  if (local === undefined || local === remote) return remote;
  const c = compareVersions(local, remote);
  if (c > 0) return local;
  if (c < 0) return remote;
  // Same version, hence same type.
  switch (local.type) {
    case 'register':
      {
      const other = remote as RegisterEntry;
      return joinAttributes(Buffer.compare(local.value, other.value) >= 0 ? local : other, local, other);
    }
    case 'tombstone':
      return local;
    case 'counter':
      return joinAttributes(mergeCounters(local, remote as CounterEntry), local, remote as LiveEntry);
    case 'set':
      return joinAttributes(mergeSets(local, remote as SetEntry), local, remote as LiveEntry);
  }
}

/**
 * The attributes of two entries of one version, joined field by field: the expiry written last
 * (by stamp, then the later time), the greater flags (equal by construction: flags change only
 * with a new version). `joined` is the join of their values; it is returned itself when its
 * attributes already are the join, so merge keeps answering `local` for a no-op.
 */
function joinAttributes<E extends LiveEntry>(joined: E, a: LiveEntry, b: LiveEntry): E {
  const expiry = compareExpiries(a.expiry, b.expiry) >= 0 ? a.expiry : b.expiry;
  const flags = Math.max(a.flags ?? 0, b.flags ?? 0);
  if (joined.expiry === expiry && (joined.flags ?? 0) === flags) return joined;
  return withAttributes(joined, { expiry, flags });
}

function compareExpiries(a: Expiry | undefined, b: Expiry | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  return compareStamps(a.stamp, b.stamp) || a.at - b.at;
}

/** `e` with these attributes (in their canonical form: no field for flags 0 or no expiry). */
function withAttributes<E extends LiveEntry>(e: E, { expiry, flags }: EntryAttributes): E {
  const { expiry: _expiry, flags: _flags, ...rest } = e;
  return { ...rest, ...(expiry === undefined ? {} : { expiry }), ...(flags ? { flags } : {}) } as E;
}

/** `e` carrying the attributes of `from` (what a counter or set operation's result keeps). */
function keepAttributes<E extends LiveEntry>(e: E, from: EntryAttributes): E {
  return e.expiry === from.expiry && e.flags === from.flags ? e : withAttributes(e, from);
}

/** When a live entry expires (ms since the Unix epoch), or undefined: never. */
export function expiresAt(e: Entry): number | undefined {
  return e.type !== 'tombstone' && e.expiry !== undefined && e.expiry.at > 0 ? e.expiry.at : undefined;
}

/** Whether `e` holds a value at `now` (ms since the Unix epoch): not a tombstone, not expired. */
export function isLiveAt(e: Entry | undefined, now: number): e is LiveEntry {
  if (e === undefined || e.type === 'tombstone') return false;
  const at = expiresAt(e);
  return at === undefined || at > now;
}

/**
 * What an entry becomes once it has expired: a tombstone every replica derives alike from the
 * entry alone (so the replicas that expire it need not tell each other), stamped at the expiry
 * time, or just past everything the entry holds when that is later (an expiry set shorter than
 * the clock's lead over the wall time). Node '' sorts first, so any write stamped from the
 * expiry time on outranks it.
 */
export function expiredForm(e: LiveEntry): TombstoneEntry {
  const at = expiresAt(e) ?? 0;
  const latest = latestStamp(e).hlc;
  const next: Hlc = latest.logical < MAX_LOGICAL ? { wall: latest.wall, logical: latest.logical + 1 } : { wall: latest.wall + 1, logical: 0 };
  const hlc = compareHlc({ wall: at, logical: 0 }, next) > 0 ? { wall: at, logical: 0 } : next;
  return { type: 'tombstone', stamp: { hlc, node: '' } };
}

/**
 * The entry a local operation at `now` starts from: `e` itself, or its expired form once it has
 * expired, so that writing to an expired key behaves as writing to a deleted one (an INCR starts
 * from 0, an APPEND finds nothing).
 */
export function asOf(e: Entry | undefined, now: number): Entry | undefined {
  if (e === undefined || e.type === 'tombstone') return e;
  const at = expiresAt(e);
  return at !== undefined && at <= now ? expiredForm(e) : e;
}

/** false for tombstone / undefined. */
export function isLive(e: Entry | undefined): boolean {
  return e !== undefined && e.type !== 'tombstone';
}

const SPACE = 0x20;

/**
 * Bytes a GET returns: a register's value; a counter's value in decimal ASCII; a set's members in
 * byte order joined by single spaces (ambiguous when members contain spaces: use `setMembers`
 * where exact members matter); undefined for a tombstone.
 */
export function entryBytes(e: Entry): Uint8Array | undefined {
  switch (e.type) {
    case 'register':
      return e.value;
    case 'tombstone':
      return undefined;
    case 'counter':
      return Buffer.from(counterValue(e).toString(), 'latin1');
    case 'set': {
      const keys = [...e.elements.keys()].sort();
      let len = keys.length > 0 ? keys.length - 1 : 0;
      for (const k of keys) len += k.length;
      const out = Buffer.allocUnsafe(len);
      let pos = 0;
      for (const k of keys) {
        if (pos > 0) out[pos++] = SPACE;
        pos += out.write(k, pos, 'latin1');
      }
      return out;
    }
  }
}

/** A local mutation: the new full entry, and the replicated change (a possibly partial state) such that merge(prev, change) deep-equals entry on any replica holding prev. For counters the change carries only this node's own components (absolute totals, not deltas: idempotent). When `entry === prev`, nothing changed and nothing needs storing or publishing. */
export interface Mutation {
  readonly entry: Entry;
  readonly change: Entry;
}

function assertFresh(prev: Entry | undefined, stamp: Stamp, op: string): void {
  if (prev === undefined) return;
  const latest = latestStamp(prev);
  if (compareStamps(stamp, latest) <= 0) {
    throw new RangeError(
      `${op}: stamp ${stamp.hlc.wall}.${stamp.hlc.logical}@${stamp.node} is not newer than the entry's ` +
        `${latest.hlc.wall}.${latest.hlc.logical}@${latest.node}; feed the clock latestHlc() of every entry merged or loaded`,
    );
  }
}

/**
 * SET: a register stamped `stamp` replacing whatever was there. Attributes: a plain SET has none
 * (it clears an expiry and flags); a write with an expiry gives it the write's own stamp
 * (`{ at, stamp }`); APPEND passes the predecessor's attributes on unchanged.
 */
export function assign(prev: Entry | undefined, value: Uint8Array, stamp: Stamp, attributes?: EntryAttributes): Mutation {
  assertFresh(prev, stamp, 'assign');
  const plain: RegisterEntry = { type: 'register', stamp, value };
  const entry = attributes && (attributes.expiry || attributes.flags) ? withAttributes(plain, attributes) : plain;
  return { entry, change: entry };
}

/**
 * TOUCH/EXPIRE/PERSIST: a live entry's expiry set to `at` (0: never) by the write `stamp`,
 * value, flags and version unchanged (so concurrent writes to the value and the expiry both
 * count). Taking away an expiry the entry does not have changes nothing. The change is the whole
 * entry. Only a live entry has an expiry to set: the caller checks (RangeError otherwise).
 */
export function touch(prev: Entry | undefined, at: number, stamp: Stamp): Mutation {
  if (prev === undefined || prev.type === 'tombstone') throw new RangeError('touch: the key holds no live entry');
  if (at === 0 && expiresAt(prev) === undefined) return { entry: prev, change: prev };
  assertFresh(prev, stamp, 'touch');
  const entry = withAttributes(prev, { expiry: { at, stamp }, flags: prev.flags });
  return { entry, change: entry };
}

/** DEL: a tombstone stamped `stamp`. */
export function remove(prev: Entry | undefined, stamp: Stamp): Mutation {
  assertFresh(prev, stamp, 'remove');
  const entry: TombstoneEntry = { type: 'tombstone', stamp };
  return { entry, change: entry };
}

/**
 * INC/DEC (amount may be negative); node = stamp.node. See the rules above. `range`: the register
 * parse and the result's bounds, signed (MerkleKV) or unsigned (memcached, digits only).
 */
export function increment(prev: Entry | undefined, amount: bigint, stamp: Stamp, range: CounterRange = 'int64'): Mutation {
  let counter: CounterEntry;
  switch (prev?.type) {
    case undefined:
      counter = newCounter(ZERO_STAMP, 0n);
      break;
    case 'tombstone':
      counter = newCounter(prev.stamp, 0n);
      break;
    case 'register': {
      const base = parseBase(prev.value, range);
      if (base === undefined) throw new CrdtError('NOT_A_NUMBER', `value is not a valid ${range === 'int64' ? 'signed' : 'unsigned'} 64-bit integer`);
      // The counter keeps the register's expiry and flags, as memcached's incr does.
      counter = keepAttributes(newCounter(prev.stamp, base), prev);
      break;
    }
    case 'set':
      throw new CrdtError('WRONG_TYPE', 'the key holds a set, not a number');
    case 'counter': {
      const { entry, ownOnly } = addToCounter(prev, amount, stamp.node, range);
      return { entry: keepAttributes(entry, prev), change: ownOnly };
    }
  }
  const { entry } = addToCounter(counter, amount, stamp.node, range);
  const full = keepAttributes(entry, counter);
  return { entry: full, change: full };
}

/** Adds `element` to the set at this key (creating it on a tombstone or absent key). */
export function setAdd(prev: Entry | undefined, element: Uint8Array, stamp: Stamp): Mutation {
  if (prev?.type === 'register' || prev?.type === 'counter') {
    throw new CrdtError('WRONG_TYPE', `the key holds a ${prev.type}, not a set`);
  }
  assertFresh(prev, stamp, 'setAdd');
  let set: SetEntry;
  switch (prev?.type) {
    case undefined:
      set = newSet(ZERO_STAMP);
      break;
    case 'tombstone':
      set = newSet(prev.stamp);
      break;
    case 'set': {
      const { entry, change } = addTag(prev, element, stamp);
      return { entry: keepAttributes(entry, prev), change };
    }
  }
  const { entry } = addTag(set, element, stamp);
  return { entry, change: entry };
}

/** Removes `element` (the adds observed here); a no-op when it is absent or the key holds no set. */
export function setRemove(prev: Entry | undefined, element: Uint8Array, _stamp: Stamp): Mutation {
  if (prev === undefined) return { entry: ZERO_TOMBSTONE, change: ZERO_TOMBSTONE };
  switch (prev.type) {
    case 'tombstone':
      return { entry: prev, change: prev };
    case 'set': {
      const removed = removeElement(prev, element);
      return removed ? { entry: keepAttributes(removed.entry, prev), change: removed.change } : { entry: prev, change: prev };
    }
    default:
      throw new CrdtError('WRONG_TYPE', `the key holds a ${prev.type}, not a set`);
  }
}
