/** fast-check arbitraries shared by the MST specs. */
import fc from 'fast-check';
import { compareBytes } from '../bytes.js';
import type { KeyDiff } from '../diff.js';
import { digestOf, hex } from './model.js';

export const SEED = Number(process.env.FC_SEED ?? 20240611);

/** Keys from a tiny alphabet collide, share prefixes and include the empty key; random ones do not. */
export const keyArb = fc.oneof(fc.uint8Array({ maxLength: 3, max: 5 }), fc.uint8Array({ minLength: 1, maxLength: 24 }));
/** Few distinct digests, so that "same digest" happens. */
export const digestArb = fc.integer({ min: 0, max: 3 }).map((i) => digestOf(`d${i}`));
export const fanoutArb = fc.constantFrom(4, 16);
export type Entries = [Uint8Array, Uint8Array][];
export const entriesArb = (maxLength = 150): fc.Arbitrary<Entries> =>
  fc.uniqueArray(fc.tuple(keyArb, digestArb), { selector: ([k]) => hex(k), maxLength });

/**
 * Two maps that mostly agree: a common base, then on each side some keys removed, some digests
 * changed and some keys added. Sometimes they are unrelated or one is empty.
 */
export const mapPairArb: fc.Arbitrary<[Entries, Entries]> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc
      .tuple(entriesArb(200), fc.array(fc.nat(), { maxLength: 12 }), fc.array(fc.nat(), { maxLength: 12 }), entriesArb(6), entriesArb(6))
      .map(([base, editsA, editsB, addA, addB]) => [edit(base, editsA, addA), edit(base, editsB, addB)] as [Entries, Entries]),
  },
  { weight: 1, arbitrary: fc.tuple(entriesArb(80), entriesArb(80)) },
  { weight: 1, arbitrary: entriesArb(80).map((e) => [e, []] as [Entries, Entries]) },
  { weight: 1, arbitrary: entriesArb(80).map((e) => [[], e] as [Entries, Entries]) },
);

function edit(base: Entries, edits: number[], added: Entries): Entries {
  const out = new Map(base.map(([k, d]) => [hex(k), [k, d] as [Uint8Array, Uint8Array]]));
  const keys = [...out.keys()];
  for (const e of edits) {
    if (keys.length === 0) break;
    const id = keys[e % keys.length]!;
    const entry = out.get(id);
    if (entry === undefined) continue;
    if (e % 2 === 0) out.delete(id);
    else out.set(id, [entry[0], digestOf(`edited${e}`)]);
  }
  for (const [k, d] of added) out.set(hex(k), [k, d]);
  return [...out.values()];
}

/** The difference by plain set algebra, lists as sorted hex. */
export function expectedDiff(local: Entries, remote: Entries): { localOnly: string[]; remoteOnly: string[]; different: string[] } {
  const l = new Map(local.map(([k, d]) => [hex(k), hex(d)]));
  const r = new Map(remote.map(([k, d]) => [hex(k), hex(d)]));
  const sort = (ids: string[]): string[] => ids.map((id) => Buffer.from(id, 'hex')).sort(compareBytes).map((b) => b.toString('hex'));
  return {
    localOnly: sort([...l.keys()].filter((k) => !r.has(k))),
    remoteOnly: sort([...r.keys()].filter((k) => !l.has(k))),
    different: sort([...l.keys()].filter((k) => r.has(k) && r.get(k) !== l.get(k))),
  };
}

export const asHex = (d: KeyDiff): { localOnly: string[]; remoteOnly: string[]; different: string[] } => ({
  localOnly: d.localOnly.map(hex),
  remoteOnly: d.remoteOnly.map(hex),
  different: d.different.map(hex),
});

