import {
  type Entry,
  type RegisterEntry,
  type SetEntry,
  type Stamp,
  ZERO_STAMP,
  ZERO_TOMBSTONE,
  assign,
  compareStamps,
  compareVersions,
  entryBytes,
  increment,
  isLive,
  latestHlc,
  latestStamp,
  merge,
  remove,
  setAdd,
  setRemove,
} from './index.js';

const at = (wall: number, node = 'a', logical = 0): Stamp => ({ hlc: { wall, logical }, node });
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const reg = (stamp: Stamp, v: string): RegisterEntry => ({ type: 'register', stamp, value: b(v) });

describe('stamps', () => {
  it('order by HLC, then node id by UTF-16 code unit', () => {
    expect(compareStamps(at(1, 'z'), at(2, 'a'))).toBeLessThan(0);
    expect(compareStamps(at(1, 'a', 1), at(1, 'a', 0))).toBeGreaterThan(0);
    expect(compareStamps(at(1, 'a'), at(1, 'b'))).toBeLessThan(0);
    expect(compareStamps(at(1, 'B'), at(1, 'a'))).toBeLessThan(0);
    expect(compareStamps(at(1, '\uffff'), at(1, '\u{1f600}'))).toBeGreaterThan(0); // surrogates sort below U+FFFF
    expect(compareStamps(at(1, 'a'), { hlc: { wall: 1, logical: 0 }, node: 'a' })).toBe(0);
    expect(compareStamps(ZERO_STAMP, at(0, ''))).toBe(0);
  });
});

describe('merge: last writer wins between versions', () => {
  it('a later register wins, in both directions', () => {
    const x = reg(at(10), 'old');
    const y = reg(at(11), 'new');
    expect(merge(x, y)).toBe(y);
    expect(merge(y, x)).toBe(y);
    expect(merge(undefined, x)).toBe(x);
  });

  it('equal HLCs: the greater node id wins', () => {
    const x = reg(at(10, 'a'), 'from a');
    const y = reg(at(10, 'b'), 'from b');
    expect(merge(x, y)).toBe(y);
    expect(merge(y, x)).toBe(y);
  });

  it('equal stamps (impossible by construction): the greater bytes win, deterministically', () => {
    const x = reg(at(10), 'aaa');
    const y = reg(at(10), 'aab');
    expect(merge(x, y)).toBe(y);
    expect(merge(y, x)).toBe(y);
    const copy = reg(at(10), 'aaa');
    expect(merge(x, copy)).toBe(x);
  });

  it('a tombstone is stamped like a register', () => {
    const x = reg(at(10), 'v');
    const del = remove(x, at(11)).entry;
    expect(merge(x, del)).toBe(del);
    const resurrect = assign(del, b('w'), at(12)).entry;
    expect(merge(del, resurrect)).toBe(resurrect);
    expect(merge(resurrect, del)).toBe(resurrect);
  });

  it('ranks register < tombstone < counter < set at equal stamps', () => {
    const s = at(10);
    const order: Entry[] = [
      reg(s, 'v'),
      { type: 'tombstone', stamp: s },
      { type: 'counter', stamp: s, base: 0n, inc: new Map(), dec: new Map() },
      { type: 'set', stamp: s, elements: new Map(), removed: [] },
    ];
    for (let i = 0; i < order.length; i++) {
      for (let j = 0; j < order.length; j++) {
        expect(Math.sign(compareVersions(order[i]!, order[j]!))).toBe(Math.sign(i - j));
        expect(merge(order[i], order[j]!)).toBe(order[Math.max(i, j)]);
      }
    }
  });

  it('ZERO_TOMBSTONE is the bottom', () => {
    for (const e of [reg(at(1), 'v'), increment(undefined, 1n, at(1)).entry, setAdd(undefined, b('x'), at(1)).entry, remove(undefined, at(1)).entry]) {
      expect(merge(e, ZERO_TOMBSTONE)).toBe(e);
      expect(merge(ZERO_TOMBSTONE, e)).toBe(e);
    }
  });
});

describe('assign and remove', () => {
  it('make an entry stamped with the given stamp; the change is the entry', () => {
    const v = b('hello');
    const m = assign(undefined, v, at(10));
    expect(m.entry).toEqual({ type: 'register', stamp: at(10), value: v });
    expect(m.change).toBe(m.entry);
    expect(entryBytes(m.entry)).toBe(v);
    const d = remove(m.entry, at(11));
    expect(d.entry).toEqual({ type: 'tombstone', stamp: at(11) });
    expect(d.change).toBe(d.entry);
    expect(entryBytes(d.entry)).toBeUndefined();
  });

  it('replace counters and sets whose epoch is older', () => {
    const c = increment(reg(at(10), '1'), 1n, at(20)).entry;
    expect(merge(c, assign(c, b('x'), at(21)).change).type).toBe('register');
    const s = setAdd(undefined, b('m'), at(30)).entry;
    expect(merge(s, remove(s, at(31)).change).type).toBe('tombstone');
  });

  it('refuse a stamp that is not newer than the entry (a clock not fed with observe)', () => {
    const x = reg(at(10, 'b'), 'v');
    expect(() => assign(x, b('w'), at(10, 'a'))).toThrow(RangeError);
    expect(() => assign(x, b('w'), at(10, 'b'))).toThrow(/not newer/);
    expect(() => remove(x, at(9, 'z'))).toThrow(RangeError);
    expect(() => setAdd(remove(x, at(11)).entry, b('m'), at(11))).toThrow(RangeError);
    expect(assign(x, b('w'), at(10, 'c')).entry.type).toBe('register');
  });
});

describe('isLive, latestStamp', () => {
  it('isLive is false only for tombstones and undefined', () => {
    expect(isLive(undefined)).toBe(false);
    expect(isLive(ZERO_TOMBSTONE)).toBe(false);
    expect(isLive(reg(at(1), ''))).toBe(true);
    expect(isLive(increment(undefined, 0n, at(1)).entry)).toBe(true);
    expect(isLive(setRemove(setAdd(undefined, b('x'), at(1)).entry, b('x'), at(2)).entry)).toBe(true);
  });

  it('latestStamp covers set tags and removed tags', () => {
    expect(latestStamp(reg(at(5), 'v'))).toEqual(at(5));
    let s: Entry = setAdd(undefined, b('x'), at(10, 'a')).entry;
    s = setAdd(s, b('y'), at(12, 'b')).entry;
    expect(latestStamp(s)).toEqual(at(12, 'b'));
    s = setRemove(s, b('y'), at(13)).entry;
    expect((s as SetEntry).elements.size).toBe(1);
    expect(latestStamp(s)).toEqual(at(12, 'b'));
    expect(latestHlc(s)).toEqual({ wall: 12, logical: 0 });
  });
});
