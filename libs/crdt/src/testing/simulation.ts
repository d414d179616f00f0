/*
 * Test support: entries that respect the construction invariants, obtained the honest way, by
 * running random histories of local operations and partial deliveries on a few replicas of one
 * key, each with its own HLC and skewed wall clock. Not part of the library build.
 */
import fc from 'fast-check';
import {
  type Entry,
  type Mutation,
  type Stamp,
  CrdtError,
  HybridLogicalClock,
  type CounterRange,
  asOf,
  assign,
  encodeEntry,
  expiredForm,
  expiresAt,
  increment,
  latestHlc,
  merge,
  remove,
  setAdd,
  setRemove,
  touch,
} from '../index.js';

export const NODES = ['a', 'b', 'nœud-ç'] as const;

export type Op =
  /** `ttl`: an expiry that many ms after the replica's time (none when null); `flags`: client flags. */
  | { kind: 'assign'; node: number; value: string; ttl: number | null; flags: number }
  | { kind: 'inc'; node: number; amount: bigint; range: CounterRange }
  /** Sets the expiry `ttl` ms ahead (0: takes it away), as TOUCH/EXPIRE/PERSIST. */
  | { kind: 'touch'; node: number; ttl: number }
  /** The replica's sweeper: an expired entry becomes its expired form (which anti-entropy then carries). */
  | { kind: 'expire'; node: number }
  | { kind: 'remove'; node: number }
  | { kind: 'add'; node: number; element: string }
  | { kind: 'rem'; node: number; element: string }
  /** Deliver change number `index` (mod the log length) to `node`. */
  | { kind: 'deliver'; node: number; index: number }
  /** Merge the full state of `from` into `node` (an anti-entropy exchange). */
  | { kind: 'sync'; node: number; from: number }
  | { kind: 'time'; ms: number };

const node = fc.nat({ max: NODES.length - 1 });
const values = fc.constantFrom('x', '', '5', '-3', '+7', '0042', '9223372036854775807', '-9223372036854775808', 'a b');
const amounts = fc.oneof(
  { weight: 8, arbitrary: fc.bigInt({ min: -5n, max: 5n }) },
  { weight: 1, arbitrary: fc.constantFrom(2n ** 62n, -(2n ** 62n), 2n ** 63n - 1n, -(2n ** 63n)) },
);
const elements = fc.constantFrom('e1', 'e2', 'e3', '', 'é', '\u00ff\u0000');

const opArbs = {
  assign: fc.record({
    kind: fc.constant('assign' as const),
    node,
    value: values,
    ttl: fc.option(fc.integer({ min: -3, max: 20 }), { nil: null }),
    flags: fc.constantFrom(0, 0, 1, 2 ** 32 - 1),
  }),
  inc: fc.record({ kind: fc.constant('inc' as const), node, amount: amounts, range: fc.constantFrom<CounterRange>('int64', 'int64', 'uint64') }),
  touch: fc.record({ kind: fc.constant('touch' as const), node, ttl: fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 20 })) }),
  expire: fc.record({ kind: fc.constant('expire' as const), node }),
  remove: fc.record({ kind: fc.constant('remove' as const), node }),
  add: fc.record({ kind: fc.constant('add' as const), node, element: elements }),
  rem: fc.record({ kind: fc.constant('rem' as const), node, element: elements }),
  deliver: fc.record({ kind: fc.constant('deliver' as const), node, index: fc.nat() }),
  sync: fc.record({ kind: fc.constant('sync' as const), node, from: node }),
  time: fc.record({ kind: fc.constant('time' as const), ms: fc.integer({ min: -5, max: 5 }) }),
} satisfies Record<Op['kind'], fc.Arbitrary<Op>>;

/** Relative weights of each operation: a uniform mix rarely builds up a set or a busy counter. */
const PROFILES: ReadonlyArray<Readonly<Record<Op['kind'], number>>> = [
  { assign: 2, inc: 2, remove: 1, add: 2, rem: 1, deliver: 2, sync: 1, time: 1, touch: 1, expire: 1 }, // mixed
  { assign: 1, inc: 6, remove: 1, add: 0, rem: 0, deliver: 3, sync: 1, time: 1, touch: 1, expire: 1 }, // counters
  { assign: 0, inc: 0, remove: 1, add: 5, rem: 3, deliver: 3, sync: 1, time: 1, touch: 1, expire: 1 }, // sets
  { assign: 3, inc: 1, remove: 1, add: 0, rem: 0, deliver: 3, sync: 2, time: 3, touch: 3, expire: 3 }, // expiry
];

const opArbFor = (weights: Readonly<Record<Op['kind'], number>>): fc.Arbitrary<Op> =>
  fc.oneof(
    ...(Object.keys(opArbs) as Array<Op['kind']>)
      .filter((k) => weights[k] > 0)
      .map((k) => ({ weight: weights[k], arbitrary: opArbs[k] as fc.Arbitrary<Op> })),
  );


export interface History {
  /** Every change published, in publication order. */
  readonly changes: Entry[];
  /** Every state any replica went through, and the final ones. */
  readonly states: Entry[];
  /** Final state per replica (undefined when it never held anything). */
  readonly finals: Array<Entry | undefined>;
  /** Local mutations with their predecessor, for the prev ⊔ change = entry law. */
  readonly mutations: Array<{ prev: Entry | undefined; m: Mutation }>;
}

const bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));

/** Every stamp inside an entry, so a replica's clock can observe them before it merges it. */
export function stampsOf(e: Entry): Stamp[] {
  const out = [e.stamp];
  if (e.type !== 'tombstone' && e.expiry) out.push(e.expiry.stamp);
  if (e.type === 'set') {
    for (const tags of e.elements.values()) out.push(...tags);
    out.push(...e.removed);
  }
  return out;
}

export function runHistory(ops: readonly Op[], skews: readonly number[] = [0, 3, -2]): History {
  let time = 1_700_000_000_000;
  const clocks = NODES.map((_, i) => new HybridLogicalClock({ now: () => time + (skews[i] ?? 0), maxDriftMs: Infinity }));
  const replicas: Array<Entry | undefined> = NODES.map(() => undefined);
  const changes: Entry[] = [];
  const states: Entry[] = [];
  const mutations: Array<{ prev: Entry | undefined; m: Mutation }> = [];
  const receive = (i: number, e: Entry): void => {
    clocks[i]!.observe(latestHlc(e)); // what the store does; setAdd would throw if it were not enough
    replicas[i] = merge(replicas[i], e);
    states.push(replicas[i]!);
  };
  for (const op of ops) {
    if (op.kind === 'time') {
      time += op.ms;
      continue;
    }
    const i = op.node;
    if (op.kind === 'deliver') {
      if (changes.length > 0) receive(i, changes[op.index % changes.length]!);
      continue;
    }
    if (op.kind === 'sync') {
      const from = replicas[op.from];
      if (from !== undefined) receive(i, from);
      continue;
    }
    const now = time + (skews[i] ?? 0);
    if (op.kind === 'expire') {
      const e = replicas[i];
      const at = e && expiresAt(e);
      if (e === undefined || e.type === 'tombstone' || at === undefined || at > now) continue;
      const expired = expiredForm(e);
      changes.push(expired);
      receive(i, expired);
      continue;
    }
    const stamp: Stamp = { hlc: clocks[i]!.tick(), node: NODES[i]! };
    const stored = replicas[i];
    // As the command layer does: a write sees an expired entry as deleted.
    const prev = asOf(stored, stamp.hlc.wall);
    let m: Mutation;
    try {
      switch (op.kind) {
        case 'assign':
          m = assign(prev, bytes(op.value), stamp, { flags: op.flags, expiry: op.ttl === null ? undefined : { at: Math.max(1, now + op.ttl), stamp } });
          break;
        case 'inc':
          m = increment(prev, op.amount, stamp, op.range);
          break;
        case 'touch':
          if (prev === undefined || prev.type === 'tombstone') continue;
          m = touch(prev, op.ttl === 0 ? 0 : Math.max(1, now + op.ttl), stamp);
          break;
        case 'remove':
          m = remove(prev, stamp);
          break;
        case 'add':
          m = setAdd(prev, bytes(op.element), stamp);
          break;
        case 'rem':
          m = setRemove(prev, bytes(op.element), stamp);
          break;
      }
    } catch (err) {
      if (err instanceof CrdtError) continue; // NOT_A_NUMBER, WRONG_TYPE, OVERFLOW: nothing changed
      throw err;
    }
    mutations.push({ prev: stored, m });
    replicas[i] = m.entry;
    states.push(m.entry);
    if (m.entry !== stored) changes.push(m.change);
  }
  return { changes, states: [...states, ...changes], finals: replicas, mutations };
}

export const historyArb = (maxOps = 40): fc.Arbitrary<History> =>
  fc
    .tuple(
      fc.constantFrom(...PROFILES).chain((p) => fc.array(opArbFor(p), { minLength: 1, maxLength: maxOps })),
      fc.array(fc.integer({ min: -20, max: 20 }), { minLength: 3, maxLength: 3 }),
    )
    .map(([ops, skews]) => runHistory(ops, skews));

/** A history with at least one state, and `n` entries picked from it. */
export const entriesArb = (n: number, maxOps = 40): fc.Arbitrary<Entry[]> =>
  fc
    .tuple(historyArb(maxOps), fc.array(fc.nat(), { minLength: n, maxLength: n }))
    .filter(([h]) => h.states.length > 0)
    .map(([h, picks]) => picks.map((p) => h.states[p % h.states.length]!));

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Canonical form, for state equality. */
export const canon = (e: Entry | undefined): string => (e === undefined ? 'undefined' : hex(encodeEntry(e)));

/** Fixed seed so that a failing run is reproducible; override with FC_SEED. */
export const fcParams = (numRuns = 300): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env['FC_SEED'] !== undefined ? Number(process.env['FC_SEED']) : 0x5eed,
});

// ---------------------------------------------------------------------------------------------
// Structurally valid entries with extreme contents (full HLC range, any UTF-8 node id, any bytes,
// huge totals): for the codec and digest, which must handle every canonical state, reachable
// by a short history or not.

const hlcArb = fc.record({ wall: fc.integer({ min: 0, max: 2 ** 48 - 1 }), logical: fc.integer({ min: 0, max: 0xffff }) });
const nodeIdArb = fc.oneof(fc.constantFrom('a', 'b', ''), fc.string({ unit: 'grapheme', maxLength: 6 }));
export const stampArb: fc.Arbitrary<Stamp> = fc.record({ hlc: hlcArb, node: nodeIdArb });

const sortStamps = (ts: Stamp[]): Stamp[] => {
  const seen = new Map<string, Stamp>();
  for (const t of ts) seen.set(`${t.hlc.wall}.${t.hlc.logical}.${t.node}`, t);
  return [...seen.values()].sort((x, y) =>
    x.hlc.wall !== y.hlc.wall ? x.hlc.wall - y.hlc.wall : x.hlc.logical !== y.hlc.logical ? x.hlc.logical - y.hlc.logical : x.node < y.node ? -1 : x.node > y.node ? 1 : 0,
  );
};

const componentsArb = fc
  .array(fc.tuple(nodeIdArb, fc.bigInt({ min: 1n, max: 2n ** 128n - 1n })), { maxLength: 4 })
  .map((kv) => new Map([...new Map(kv)].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))));

const attributesArb = fc.record(
  {
    flags: fc.integer({ min: 1, max: 2 ** 32 - 1 }),
    expiry: fc.record({ at: fc.integer({ min: 0, max: 2 ** 48 - 1 }), stamp: fc.option(stampArb, { nil: undefined }) }),
  },
  { requiredKeys: [] },
);

/** A live entry with some attributes (an expiry of its own write, or of another stamp; flags). */
const withAttributesArb = (e: Entry): fc.Arbitrary<Entry> =>
  e.type === 'tombstone'
    ? fc.constant(e)
    : attributesArb.map(({ flags, expiry }) => ({
        ...e,
        ...(flags === undefined ? {} : { flags }),
        ...(expiry === undefined ? {} : { expiry: { at: expiry.at, stamp: expiry.stamp ?? e.stamp } }),
      }));

export const anyEntryArb: fc.Arbitrary<Entry> = fc.oneof(
  plainEntryArb(),
  plainEntryArb().chain(withAttributesArb),
);

function plainEntryArb(): fc.Arbitrary<Entry> {
  return fc.oneof(
  fc.record({ type: fc.constant('register' as const), stamp: stampArb, value: fc.uint8Array({ maxLength: 300 }) }),
  fc.record({ type: fc.constant('tombstone' as const), stamp: stampArb }),
  fc.record({
    type: fc.constant('counter' as const),
    stamp: stampArb,
    base: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    inc: componentsArb,
    dec: componentsArb,
  }),
  fc
    .record({
      stamp: stampArb,
      elements: fc.array(fc.tuple(fc.uint8Array({ maxLength: 8 }), fc.array(stampArb, { minLength: 1, maxLength: 3 })), { maxLength: 4 }),
      removed: fc.array(stampArb, { maxLength: 4 }),
    })
    .map(({ stamp, elements, removed }): Entry => {
      const rem = sortStamps(removed);
      const isRemoved = (t: Stamp): boolean => rem.some((r) => r.hlc.wall === t.hlc.wall && r.hlc.logical === t.hlc.logical && r.node === t.node);
      const m = new Map<string, readonly Stamp[]>();
      for (const [el, tags] of elements) {
        const live = sortStamps(tags).filter((t) => !isRemoved(t));
        if (live.length > 0) m.set(Buffer.from(el).toString('latin1'), live);
      }
      return { type: 'set', stamp, elements: new Map([...m].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))), removed: rem };
    }),
);
}
