import {
  type Entry,
  type SetEntry,
  type Stamp,
  CrdtError,
  ZERO_STAMP,
  ZERO_TOMBSTONE,
  assign,
  elementKey,
  entryBytes,
  increment,
  isLive,
  merge,
  remove,
  setAdd,
  setHas,
  setMembers,
  setRemove,
  setSize,
} from './index.js';

const at = (wall: number, node = 'a'): Stamp => ({ hlc: { wall, logical: 0 }, node });
const b = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'latin1'));
const members = (e: Entry): string[] => setMembers(e as SetEntry).map((m) => Buffer.from(m).toString('latin1'));
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    if (err instanceof CrdtError) return err.code;
    throw err;
  }
  return undefined;
};

describe('OR-set', () => {
  it('adds elements; a new set takes the predecessor stamp as epoch', () => {
    let m = setAdd(undefined, b('y'), at(10));
    expect(m.entry.stamp).toBe(ZERO_STAMP);
    expect(m.change).toBe(m.entry);
    m = setAdd(m.entry, b('x'), at(11));
    m = setAdd(m.entry, b('y'), at(12));
    expect(members(m.entry)).toEqual(['x', 'y']);
    expect(setSize(m.entry as SetEntry)).toBe(2);
    expect(setHas(m.entry as SetEntry, b('y'))).toBe(true);
    expect(setHas(m.entry as SetEntry, b('z'))).toBe(false);
    expect((m.entry as SetEntry).elements.get(elementKey(b('y')))).toEqual([at(10), at(12)]);
    // The change of an add is just the new tag.
    expect(m.change).toEqual({ type: 'set', stamp: ZERO_STAMP, elements: new Map([['y', [at(12)]]]), removed: [] });

    const tomb = remove(m.entry, at(20)).entry;
    const fresh = setAdd(tomb, b('z'), at(21)).entry;
    expect(fresh.stamp).toBe(tomb.stamp);
    expect(members(fresh)).toEqual(['z']);
    expect(merge(tomb, fresh)).toBe(fresh);
  });

  it('removes what it observed', () => {
    const s1 = setAdd(undefined, b('x'), at(10)).entry;
    const s2 = setAdd(s1, b('x'), at(11)).entry;
    const r = setRemove(s2, b('x'), at(12));
    expect(members(r.entry)).toEqual([]);
    expect((r.entry as SetEntry).removed).toEqual([at(10), at(11)]);
    expect(r.change).toEqual({ type: 'set', stamp: ZERO_STAMP, elements: new Map(), removed: [at(10), at(11)] });
    // Re-adding after a remove works, and delivering the old add again does not resurrect it.
    const again = setAdd(r.entry, b('x'), at(13)).entry;
    expect(members(again)).toEqual(['x']);
    expect(members(merge(r.entry, s1))).toEqual([]);
  });

  it('add wins over a concurrent remove', () => {
    const base = setAdd(undefined, b('x'), at(10, 'a')).entry;
    const removedOnA = setRemove(base, b('x'), at(20, 'a'));
    const addedOnB = setAdd(base, b('x'), at(20, 'b'));
    const one = merge(removedOnA.entry, addedOnB.change);
    const two = merge(addedOnB.entry, removedOnA.change);
    expect(members(one)).toEqual(['x']);
    expect(one).toEqual(two);
    expect((one as SetEntry).elements.get('x')).toEqual([at(20, 'b')]);
  });

  it('concurrent adds from an absent key merge', () => {
    const a = setAdd(undefined, b('p'), at(10, 'a')).change;
    const c = setAdd(undefined, b('q'), at(10, 'c')).change;
    expect(members(merge(a, c))).toEqual(['p', 'q']);
    expect(merge(a, c)).toEqual(merge(c, a));
  });

  it('removing an absent element, or from a key holding no set, changes nothing', () => {
    const s = setAdd(undefined, b('x'), at(10)).entry;
    const m = setRemove(s, b('nope'), at(11));
    expect(m.entry).toBe(s);
    expect(merge(s, m.change)).toBe(s);
    const tomb = remove(undefined, at(5)).entry;
    expect(setRemove(tomb, b('x'), at(6)).entry).toBe(tomb);
    const none = setRemove(undefined, b('x'), at(6));
    expect(none.entry).toBe(ZERO_TOMBSTONE);
    expect(isLive(none.entry)).toBe(false);
  });

  it('refuses set operations on registers and counters (WRONG_TYPE)', () => {
    const reg = assign(undefined, b('v'), at(10)).entry;
    const ctr = increment(undefined, 1n, at(10)).entry;
    for (const e of [reg, ctr]) {
      expect(codeOf(() => setAdd(e, b('x'), at(20)))).toBe('WRONG_TYPE');
      expect(codeOf(() => setRemove(e, b('x'), at(20)))).toBe('WRONG_TYPE');
    }
  });

  it('a set wins over a counter of the same epoch, and loses to later writes', () => {
    const tomb = remove(undefined, at(10, 'x')).entry;
    const ctr = increment(tomb, 1n, at(20, 'a')).entry;
    const set = setAdd(tomb, b('m'), at(20, 'b')).entry;
    expect(merge(ctr, set)).toBe(set);
    expect(merge(set, ctr)).toBe(set);
    const later = assign(tomb, b('v'), at(15, 'c')).entry;
    expect(merge(set, later)).toBe(later);
  });

  it('GET bytes: members in byte order joined by spaces; an empty set is live with no bytes', () => {
    let e: Entry = setAdd(undefined, b('\u00ffz'), at(1)).entry;
    e = setAdd(e, b('b'), at(2)).entry;
    e = setAdd(e, b('a\u0000'), at(3)).entry;
    expect(Buffer.from(entryBytes(e)!).toString('latin1')).toBe('a\u0000 b \u00ffz');
    e = setRemove(e, b('b'), at(4)).entry;
    e = setRemove(e, b('a\u0000'), at(5)).entry;
    e = setRemove(e, b('\u00ffz'), at(6)).entry;
    expect(isLive(e)).toBe(true);
    expect(entryBytes(e)).toEqual(Buffer.alloc(0));
  });

  it('element keys do not alias the caller bytes, and handle views into larger buffers', () => {
    const big = Buffer.from('..abc..', 'latin1');
    const view = big.subarray(2, 5);
    const s = setAdd(undefined, view, at(1)).entry as SetEntry;
    big.write('XYZ', 2, 'latin1');
    expect(members(s)).toEqual(['abc']);
  });

  it('refuses a tag that is not newer than every tag it holds', () => {
    const s = setAdd(undefined, b('x'), at(10, 'b')).entry;
    const s2 = merge(s, setAdd(s, b('y'), at(30, 'c')).change);
    expect(() => setAdd(s2, b('z'), at(20, 'a'))).toThrow(RangeError);
  });
});
