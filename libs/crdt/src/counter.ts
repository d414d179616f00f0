/*
 * PN-counter state and its pieces. A counter is base + sum(inc) - sum(dec): `base` is the value it
 * started from (a parsed register, or 0), `inc`/`dec` hold each node's running totals of
 * increments and decrements. Totals only grow, so merging two counters of the same epoch is the
 * pointwise max, and a replicated change may carry absolute totals (idempotent) instead of deltas.
 *
 * Canonical form, relied on by merge's no-op detection and by the encoder: component maps hold
 * no zero totals, and are built in ascending node-id order (the encoder sorts anyway if not).
 */
import { CrdtError } from './errors.js';
import { type CounterEntry } from './entry.js';
import { type NodeId, compareNodeIds } from './stamp.js';

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;
export const UINT64_MAX = (1n << 64n) - 1n;

/**
 * The range a counter operation keeps its result in: MerkleKV's INC/DEC a signed 64-bit one,
 * memcached's incr/decr an unsigned one (the caller computes the wrap and the floor at 0).
 */
export type CounterRange = 'int64' | 'uint64';

const RANGE: Readonly<Record<CounterRange, readonly [bigint, bigint]>> = { int64: [INT64_MIN, INT64_MAX], uint64: [0n, UINT64_MAX] };

/** A counter's base lies in either range: [INT64_MIN, UINT64_MAX]. */
export const BASE_MIN = INT64_MIN;
export const BASE_MAX = UINT64_MAX;
/** Largest per-node total: keeps encodings bounded (a 19-byte varint at most). */
export const MAX_COMPONENT = (1n << 128n) - 1n;

const EMPTY: ReadonlyMap<NodeId, bigint> = new Map();

/** Counter value = base + sum(inc) - sum(dec). */
export function counterValue(e: CounterEntry): bigint {
  let v = e.base;
  for (const x of e.inc.values()) v += x;
  for (const x of e.dec.values()) v -= x;
  return v;
}

/**
 * Parses a register's bytes as memcached does for incr/decr: ASCII digits only, up to 2^64-1.
 * Undefined otherwise.
 */
export function parseUint64(bytes: Uint8Array): bigint | undefined {
  if (bytes.length === 0 || bytes.length > 20) return undefined;
  for (const b of bytes) if (b < 0x30 || b > 0x39) return undefined;
  const v = BigInt(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1'));
  return v <= UINT64_MAX ? v : undefined;
}

/** A register's bytes as the base of a counter in `range`. */
export function parseBase(bytes: Uint8Array, range: CounterRange): bigint | undefined {
  return range === 'int64' ? parseInt64(bytes) : parseUint64(bytes);
}

/**
 * Parses a register's bytes as a signed 64-bit decimal: an optional '+' or '-', then one or more
 * ASCII digits, nothing else (no spaces). Returns undefined when not a number or out of range.
 */
export function parseInt64(bytes: Uint8Array): bigint | undefined {
  const n = bytes.length;
  let i = 0;
  let negative = false;
  if (n > 0 && (bytes[0] === 0x2b || bytes[0] === 0x2d)) {
    negative = bytes[0] === 0x2d;
    i = 1;
  }
  if (i >= n) return undefined;
  // Skip leading zeros so that a long run of them cannot make the parse expensive.
  while (i < n - 1 && bytes[i] === 0x30) i++;
  if (n - i > 19) {
    // More than 19 significant digits is out of range, unless some byte is not a digit.
    return undefined;
  }
  let small = 0; // up to 15 digits fit a double exactly
  let big = 0n;
  let digits = 0;
  for (; i < n; i++) {
    const d = bytes[i]! - 0x30;
    if (d < 0 || d > 9) return undefined;
    if (digits < 15) small = small * 10 + d;
    else {
      if (digits === 15) big = BigInt(small);
      big = big * 10n + BigInt(d);
    }
    digits++;
  }
  let v = digits <= 15 ? BigInt(small) : big;
  if (negative) v = -v;
  return v < INT64_MIN || v > INT64_MAX ? undefined : v;
}

/** True when every total in `b` is <= the same node's total in `a` (b adds nothing to a). */
function covers(a: ReadonlyMap<NodeId, bigint>, b: ReadonlyMap<NodeId, bigint>): boolean {
  if (b.size > a.size) return false;
  for (const [k, v] of b) {
    const av = a.get(k);
    if (av === undefined || v > av) return false;
  }
  return true;
}

/** A new map in ascending node order. */
function sortedMap(entries: Array<[NodeId, bigint]>): Map<NodeId, bigint> {
  entries.sort((x, y) => compareNodeIds(x[0], y[0]));
  return new Map(entries);
}

function joinComponents(a: ReadonlyMap<NodeId, bigint>, b: ReadonlyMap<NodeId, bigint>): ReadonlyMap<NodeId, bigint> {
  if (covers(a, b)) return a;
  if (covers(b, a)) return b;
  const out: Array<[NodeId, bigint]> = [...a];
  const index = new Map<NodeId, number>();
  out.forEach(([k], i) => index.set(k, i));
  for (const [k, v] of b) {
    const i = index.get(k);
    if (i === undefined) out.push([k, v]);
    else if (v > out[i]![1]) out[i] = [k, v];
  }
  return sortedMap(out);
}

/** Join of two counters of the same epoch: pointwise max (and max of bases, equal by construction). */
export function mergeCounters(l: CounterEntry, r: CounterEntry): CounterEntry {
  if (l.base >= r.base && covers(l.inc, r.inc) && covers(l.dec, r.dec)) return l;
  if (r.base >= l.base && covers(r.inc, l.inc) && covers(r.dec, l.dec)) return r;
  return {
    type: 'counter',
    stamp: l.stamp,
    base: l.base > r.base ? l.base : r.base,
    inc: joinComponents(l.inc, r.inc),
    dec: joinComponents(l.dec, r.dec),
  };
}

function withTotal(m: ReadonlyMap<NodeId, bigint>, node: NodeId, total: bigint): ReadonlyMap<NodeId, bigint> {
  if (m.has(node)) {
    const out = new Map(m);
    out.set(node, total);
    return out;
  }
  return sortedMap([...m, [node, total]]);
}

function own(node: NodeId, total: bigint | undefined): ReadonlyMap<NodeId, bigint> {
  return total === undefined ? EMPTY : new Map([[node, total]]);
}

/**
 * Adds `amount` to `node`'s own total in `c` (inc for amount > 0, dec for amount < 0).
 * Returns the new counter and the change carrying only `node`'s totals.
 * Throws OVERFLOW when the value would leave `range`, or a total would pass MAX_COMPONENT.
 */
export function addToCounter(c: CounterEntry, amount: bigint, node: NodeId, range: CounterRange = 'int64'): { entry: CounterEntry; ownOnly: CounterEntry } {
  const value = counterValue(c) + amount;
  const [min, max] = RANGE[range];
  if (value < min || value > max) {
    throw new CrdtError('OVERFLOW', `increment or decrement would overflow: ${counterValue(c)} + ${amount}`);
  }
  let inc = c.inc;
  let dec = c.dec;
  if (amount > 0n) {
    const total = (inc.get(node) ?? 0n) + amount;
    if (total > MAX_COMPONENT) throw new CrdtError('OVERFLOW', `node ${node}'s increment total would exceed 2^128-1`);
    inc = withTotal(inc, node, total);
  } else if (amount < 0n) {
    const total = (dec.get(node) ?? 0n) - amount;
    if (total > MAX_COMPONENT) throw new CrdtError('OVERFLOW', `node ${node}'s decrement total would exceed 2^128-1`);
    dec = withTotal(dec, node, total);
  }
  const entry: CounterEntry = inc === c.inc && dec === c.dec ? c : { type: 'counter', stamp: c.stamp, base: c.base, inc, dec };
  const ownOnly: CounterEntry = {
    type: 'counter',
    stamp: c.stamp,
    base: c.base,
    inc: own(node, inc.get(node)),
    dec: own(node, dec.get(node)),
  };
  return { entry, ownOnly };
}

/** A fresh counter of the given epoch and base, with no increments yet. */
export function newCounter(epoch: CounterEntry['stamp'], base: bigint): CounterEntry {
  return { type: 'counter', stamp: epoch, base, inc: EMPTY, dec: EMPTY };
}
