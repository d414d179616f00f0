import fc from 'fast-check';
import { type Entry, ZERO_TOMBSTONE, compareStamps, decodeEntry, encodeEntry, entryDigest, merge } from './index.js';
import { canon, entriesArb, fcParams, hex, historyArb } from './testing/simulation.js';

describe('merge is a lattice join over reachable entries', () => {
  it('is commutative', () => {
    fc.assert(
      fc.property(entriesArb(2), ([a, b]) => {
        expect(canon(merge(a!, b!))).toBe(canon(merge(b!, a!)));
      }),
      fcParams(),
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(entriesArb(3), ([a, b, c]) => {
        expect(canon(merge(merge(a!, b!), c!))).toBe(canon(merge(a!, merge(b!, c!))));
      }),
      fcParams(),
    );
  });

  it('is idempotent, and returns the same object', () => {
    fc.assert(
      fc.property(entriesArb(2), ([a, b]) => {
        expect(merge(a!, a!)).toBe(a);
        const copy = decodeEntry(encodeEntry(a!));
        expect(merge(a!, copy)).toBe(a);
        const ab = merge(a!, b!);
        expect(canon(merge(ab, b!))).toBe(canon(ab));
        expect(merge(ab, b!)).toBe(ab);
        expect(merge(ab, a!)).toBe(ab);
      }),
      fcParams(),
    );
  });

  it('returns local itself exactly when remote adds nothing', () => {
    fc.assert(
      fc.property(entriesArb(2), ([a, b]) => {
        const m = merge(a!, b!);
        expect(m === a).toBe(canon(m) === canon(a));
      }),
      fcParams(),
    );
  });

  it('treats undefined and ZERO_TOMBSTONE as bottom', () => {
    fc.assert(
      fc.property(entriesArb(1), ([a]) => {
        expect(merge(undefined, a!)).toBe(a);
        expect(merge(a!, ZERO_TOMBSTONE)).toBe(a);
        expect(canon(merge(ZERO_TOMBSTONE, a!))).toBe(canon(a));
      }),
      fcParams(),
    );
  });
});

describe('local mutations', () => {
  it('merge(prev, change) equals entry, and change adds nothing to entry', () => {
    fc.assert(
      fc.property(historyArb(), (h) => {
        for (const { prev, m } of h.mutations) {
          const merged = merge(prev, m.change);
          expect(canon(merged)).toBe(canon(m.entry));
          expect(merged).toEqual(m.entry);
          expect(merge(m.entry, m.change)).toBe(m.entry);
        }
      }),
      fcParams(),
    );
  });
});

describe('convergence', () => {
  const fold = (changes: readonly Entry[]): Entry | undefined => changes.reduce<Entry | undefined>((acc, c) => merge(acc, c), undefined);

  it('any delivery order of the changes, with duplicates, gives the same state', () => {
    fc.assert(
      fc.property(
        historyArb(50).filter((h) => h.changes.length > 0),
        fc.array(fc.nat(), { maxLength: 60 }),
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        (h, dupes, noise) => {
          const reference = canon(fold(h.changes));
          const withDupes = [...h.changes, ...dupes.map((d) => h.changes[d % h.changes.length]!)];
          const keyed = withDupes.map((c) => ({ c, k: noise.next().value }));
          keyed.sort((x, y) => x.k - y.k);
          expect(canon(fold(keyed.map((x) => x.c)))).toBe(reference);
          expect(hex(entryDigest(fold(keyed.map((x) => x.c))!))).toBe(hex(entryDigest(fold(h.changes)!)));
        },
      ),
      fcParams(),
    );
  });

  it('replicas that exchange their states end equal to the join of all changes', () => {
    fc.assert(
      fc.property(
        historyArb(50).filter((h) => h.changes.length > 0),
        (h) => {
          const all = fold(h.changes);
          let joined: Entry | undefined;
          for (const f of h.finals) if (f !== undefined) joined = merge(joined, f);
          // Every replica state is a join of some changes, so the join of the finals is below all.
          expect(canon(merge(all, joined!))).toBe(canon(all));
          // Delivering every change to every replica converges them all to that join.
          for (const f of h.finals) expect(canon(h.changes.reduce((acc, c) => merge(acc, c), f))).toBe(canon(all));
        },
      ),
      fcParams(),
    );
  });
});

describe('the generators reach the interesting states', () => {
  it('covers concurrent counters, derived counters, sets with removals, expiries and genuine joins', () => {
    const seen = new Set<string>();
    for (const h of fc.sample(historyArb(50), { numRuns: 300, seed: 7 })) {
      for (const e of h.states) {
        if (e.type !== 'tombstone' && e.expiry !== undefined) {
          seen.add(`${e.type} with an expiry`);
          if (compareStamps(e.expiry.stamp, e.stamp) > 0) seen.add('expiry touched after the write');
          if (e.expiry.at === 0) seen.add('expiry taken away');
        }
        if (e.type !== 'tombstone' && e.flags !== undefined) seen.add('entry with flags');
        if (e.type === 'tombstone' && e.stamp.node === '' && e.stamp.hlc.wall > 0) seen.add('expired form');
        if (e.type === 'counter') {
          if (e.inc.size + e.dec.size >= 2) seen.add('counter touched by 2+ nodes');
          if (e.base !== 0n) seen.add('counter with a parsed base');
          if (e.stamp.node !== '') seen.add('counter with a non-zero epoch');
        }
        if (e.type === 'set') {
          if (e.removed.length > 0 && e.elements.size > 0) seen.add('set with live and removed tags');
          if ([...e.elements.values()].some((t) => t.length >= 2)) seen.add('element with 2+ tags');
          if (new Set([...e.elements.values()].flat().map((t) => t.node)).size >= 2) seen.add('set with tags of 2+ nodes');
        }
      }
    }
    for (const [a, b] of fc.sample(entriesArb(2), { numRuns: 2000, seed: 7 })) {
      const m = merge(a!, b!);
      if (m !== a && m !== b) seen.add(`genuine ${m.type} join`);
    }
    expect([...seen].sort()).toEqual(
      [
        'counter touched by 2+ nodes',
        'counter with a parsed base',
        'counter with a non-zero epoch',
        'set with live and removed tags',
        'element with 2+ tags',
        'set with tags of 2+ nodes',
        'genuine counter join',
        'genuine set join',
        // A register joins only its attributes: a touch on one replica, another on a second.
        'genuine register join',
        'register with an expiry',
        'counter with an expiry',
        'set with an expiry',
        'expiry touched after the write',
        'expiry taken away',
        'entry with flags',
        'expired form',
      ].sort(),
    );
  });
});
