/**
 * Test support: fast-check arbitraries of change records, every entry type built with #crdt's
 * own operations (so they are well formed). Shared by the codec spec and the codec's fuzz target.
 */
import fc from 'fast-check';
import { type Entry, type Stamp, assign, encodeEntry, increment, remove, setAdd } from '#crdt';
import { type ChangeRecord } from '../ports.js';

export const nodeIdArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const stampNodeArb = fc.oneof(nodeIdArb, fc.string({ unit: 'binary', maxLength: 20 }));
export const stampArb: fc.Arbitrary<Stamp> = fc.record({
  hlc: fc.record({ wall: fc.integer({ min: 0, max: 2 ** 48 - 1 }), logical: fc.integer({ min: 0, max: 0xffff }) }),
  node: stampNodeArb,
});
const bytesArb = fc.uint8Array({ maxLength: 64 });
// Stamps must be fresh relative to the (absent) predecessor, so no ZERO stamp for assign/remove/setAdd.
const freshStampArb = stampArb.filter((s) => s.hlc.wall > 0);
export const entryArb: fc.Arbitrary<Entry> = fc.oneof(
  fc.tuple(bytesArb, freshStampArb).map(([v, s]) => assign(undefined, v, s).entry),
  freshStampArb.map((s) => remove(undefined, s).entry),
  fc
    .tuple(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), freshStampArb)
    .filter(([n]) => n !== 0n)
    .map(([n, s]) => increment(undefined, n, s).entry),
  fc.tuple(bytesArb, freshStampArb).map(([e, s]) => setAdd(undefined, e, s).entry),
);
const seqArb = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const shardArb = fc.integer({ min: 0, max: 4095 });
const keyArb = fc.string({ unit: 'binary', minLength: 1, maxLength: 40 });

export const changeArb: fc.Arbitrary<ChangeRecord> = fc.oneof(
  fc.record({ kind: fc.constant('entry' as const), origin: nodeIdArb, seq: seqArb, shard: shardArb, key: keyArb, entry: entryArb }),
  fc.record({ kind: fc.constant('truncate' as const), origin: nodeIdArb, seq: seqArb, shard: shardArb, floor: stampArb }),
);

/** A comparable form: bigints and bytes as strings, the entry by its canonical encoding. */
export function canon(r: ChangeRecord): Record<string, unknown> {
  const common = { kind: r.kind, origin: r.origin, seq: String(r.seq), shard: r.shard };
  return r.kind === 'entry' ? { ...common, key: r.key, entry: Buffer.from(encodeEntry(r.entry)).toString('hex') } : { ...common, floor: r.floor };
}
