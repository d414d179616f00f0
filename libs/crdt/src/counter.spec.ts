import {
  type CounterEntry,
  type Entry,
  type Stamp,
  CrdtError,
  INT64_MAX,
  INT64_MIN,
  ZERO_STAMP,
  assign,
  counterValue,
  entryBytes,
  increment,
  merge,
  parseInt64,
  remove,
  setAdd,
} from './index.js';

const at = (wall: number, node = 'a', logical = 0): Stamp => ({ hlc: { wall, logical }, node });
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('latin1'));
const value = (e: Entry): bigint => counterValue(e as CounterEntry);
const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (err) {
    if (err instanceof CrdtError) return err.code;
    throw err;
  }
  return undefined;
};

describe('parseInt64', () => {
  it.each([
    ['0', 0n],
    ['-0', 0n],
    ['+5', 5n],
    ['-5', -5n],
    ['007', 7n],
    ['123456789012345', 123456789012345n],
    ['1234567890123456789', 1234567890123456789n],
    ['9223372036854775807', INT64_MAX],
    ['-9223372036854775808', INT64_MIN],
    ['+0000000000000000000000000000000042', 42n],
  ])('accepts %j', (s, v) => {
    expect(parseInt64(text(s))).toBe(v);
  });

  it.each(['', '+', '-', ' 5', '5 ', '1.5', '1e3', '0x10', '--1', '+-1', '١', '5\n', '9223372036854775808', '-9223372036854775809', '99999999999999999999'])(
    'refuses %j',
    (s) => {
      expect(parseInt64(text(s))).toBeUndefined();
    },
  );
});

describe('increment', () => {
  it('creates a counter on an absent key: epoch ZERO_STAMP, base 0', () => {
    const { entry, change } = increment(undefined, 5n, at(10));
    expect(entry).toEqual({ type: 'counter', stamp: ZERO_STAMP, base: 0n, inc: new Map([['a', 5n]]), dec: new Map() });
    expect(change).toBe(entry);
    expect(str(entryBytes(entry))).toBe('5');
    expect(str(entryBytes(increment(undefined, -7n, at(10)).entry))).toBe('-7');
  });

  it('parses a live register as the base, with the register stamp as epoch', () => {
    const reg = assign(undefined, text('+10'), at(10, 'x')).entry;
    const { entry, change } = increment(reg, -3n, at(20));
    expect(entry).toEqual({ type: 'counter', stamp: reg.stamp, base: 10n, inc: new Map(), dec: new Map([['a', 3n]]) });
    expect(change).toBe(entry);
    expect(value(entry)).toBe(7n);
    expect(merge(reg, change)).toBe(change); // the counter derived from the register beats it
  });

  it('fails NOT_A_NUMBER on a register that is not a signed 64-bit decimal', () => {
    for (const s of ['abc', '', ' 1', '1 ', '9223372036854775808']) {
      const reg = assign(undefined, text(s), at(10)).entry;
      expect(codeOf(() => increment(reg, 1n, at(20)))).toBe('NOT_A_NUMBER');
    }
  });

  it('fails WRONG_TYPE on a set', () => {
    const set = setAdd(undefined, text('m'), at(10)).entry;
    expect(codeOf(() => increment(set, 1n, at(20)))).toBe('WRONG_TYPE');
  });

  it('keeps epoch and base on a counter and adds to its own totals', () => {
    const reg = assign(undefined, text('100'), at(10, 'x')).entry;
    let e: Entry = increment(reg, 5n, at(20, 'a')).entry;
    e = increment(e, 2n, at(21, 'a')).entry;
    e = increment(e, -4n, at(22, 'a')).entry;
    e = increment(e, 1n, at(23, 'b')).entry;
    expect(e).toEqual({ type: 'counter', stamp: reg.stamp, base: 100n, inc: new Map([['a', 7n], ['b', 1n]]), dec: new Map([['a', 4n]]) });
    expect(value(e)).toBe(104n);
  });

  it('replicates only its own absolute totals, idempotently', () => {
    let a: Entry = increment(undefined, 1n, at(10, 'a')).entry;
    const fromB = increment(undefined, 2n, at(11, 'b')).change;
    a = merge(a, fromB);
    const m = increment(a, -5n, at(12, 'a'));
    expect(m.change).toEqual({ type: 'counter', stamp: ZERO_STAMP, base: 0n, inc: new Map([['a', 1n]]), dec: new Map([['a', 5n]]) });
    expect(merge(merge(a, m.change), m.change)).toEqual(m.entry);
    expect(value(m.entry)).toBe(-2n);
  });

  it('counts concurrent increments from the same predecessor on every node', () => {
    const reg = assign(undefined, text('10'), at(10, 'x')).entry;
    const changes = ['a', 'b', 'c'].map((n, i) => increment(reg, BigInt(i + 1), at(20, n)).change);
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0, 1, 2],
    ];
    for (const order of orders) {
      const e = order.reduce<Entry>((acc, i) => merge(acc, changes[i]!), reg);
      expect(value(e)).toBe(16n);
    }
    // Likewise from an absent key and from a tombstone.
    const fromNothing = ['a', 'b'].map((n) => increment(undefined, 1n, at(5, n)).change);
    expect(value(merge(fromNothing[0], fromNothing[1]!))).toBe(2n);
    const tomb = remove(reg, at(30, 'x')).entry;
    const fromTomb = ['a', 'b'].map((n) => increment(tomb, -1n, at(40, n)).change);
    expect(value(merge(merge(tomb, fromTomb[0]!), fromTomb[1]!))).toBe(-2n);
  });

  it('restarts from 0 after a delete, and old increments do not come back', () => {
    const first = increment(undefined, 5n, at(10, 'a'));
    const lateFromB = increment(first.entry, 100n, at(11, 'b')).change; // same old epoch
    const del = remove(first.entry, at(20, 'a'));
    expect(del.entry.type).toBe('tombstone');
    const again = increment(del.entry, 2n, at(30, 'a'));
    expect(again.entry.stamp).toEqual(del.entry.stamp);
    expect(value(again.entry)).toBe(2n);
    // The concurrent increment of the old counter loses to the tombstone and the new counter.
    expect(merge(again.entry, lateFromB)).toBe(again.entry);
    expect(merge(merge(first.entry, lateFromB), again.change)).toEqual(again.entry);
    expect(merge(del.entry, lateFromB)).toBe(del.entry);
  });

  it('loses to a write stamped after its epoch, even if the increment came later', () => {
    const reg = assign(undefined, text('1'), at(10, 'x')).entry;
    const inc = increment(reg, 1n, at(50, 'a')).entry; // epoch = 10
    const set = assign(reg, text('hello'), at(20, 'b')).entry;
    expect(merge(inc, set)).toBe(set);
    expect(merge(set, inc)).toBe(set);
  });

  it('fails OVERFLOW past int64 and changes nothing', () => {
    const max = assign(undefined, text('9223372036854775807'), at(10)).entry;
    expect(codeOf(() => increment(max, 1n, at(20)))).toBe('OVERFLOW');
    const c = increment(max, 0n, at(20)).entry;
    expect(value(c)).toBe(INT64_MAX);
    expect(codeOf(() => increment(c, 1n, at(21)))).toBe('OVERFLOW');
    expect(value(c)).toBe(INT64_MAX);
    const min = increment(undefined, INT64_MIN, at(10)).entry;
    expect(value(min)).toBe(INT64_MIN);
    expect(codeOf(() => increment(min, -1n, at(20)))).toBe('OVERFLOW');
    expect(codeOf(() => increment(undefined, INT64_MAX + 1n, at(10)))).toBe('OVERFLOW');
    expect(codeOf(() => increment(min, 2n ** 64n, at(20)))).toBe('OVERFLOW');
    expect(value(increment(min, 2n ** 64n - 1n, at(20)).entry)).toBe(INT64_MAX);
  });

  it('caps a node total at 2^128-1 even when the value stays in range', () => {
    const top = 2n ** 128n - 1n;
    const c: CounterEntry = { type: 'counter', stamp: ZERO_STAMP, base: 0n, inc: new Map([['a', top]]), dec: new Map([['a', top]]) };
    expect(counterValue(c)).toBe(0n);
    expect(codeOf(() => increment(c, 1n, at(1, 'a')))).toBe('OVERFLOW');
    expect(codeOf(() => increment(c, -1n, at(1, 'a')))).toBe('OVERFLOW');
    expect(value(increment(c, 1n, at(1, 'b')).entry)).toBe(1n);
  });

  it('amount 0 on a counter is a no-op (entry === prev)', () => {
    const c = increment(undefined, 3n, at(10)).entry;
    const m = increment(c, 0n, at(20, 'b'));
    expect(m.entry).toBe(c);
    expect(merge(c, m.change)).toBe(c);
  });

  it('reads beyond int64 after concurrent increments join, and refuses to go further', () => {
    const base = increment(undefined, INT64_MAX - 1n, at(10, 'a')).entry;
    const b = increment(base, 1n, at(20, 'b')).change;
    const c = increment(base, 1n, at(20, 'c')).change;
    const joined = merge(merge(base, b), c);
    expect(value(joined)).toBe(INT64_MAX + 1n);
    expect(str(entryBytes(joined))).toBe('9223372036854775808');
    expect(codeOf(() => increment(joined, 1n, at(30, 'a')))).toBe('OVERFLOW');
    expect(value(increment(joined, -1n, at(30, 'a')).entry)).toBe(INT64_MAX);
  });

  it('joins same-epoch counters pointwise and keeps the greater epoch otherwise', () => {
    const x: CounterEntry = { type: 'counter', stamp: at(5), base: 1n, inc: new Map([['a', 3n], ['b', 1n]]), dec: new Map([['a', 2n]]) };
    const y: CounterEntry = { type: 'counter', stamp: at(5), base: 1n, inc: new Map([['a', 2n], ['c', 4n]]), dec: new Map([['b', 1n]]) };
    const j = merge(x, y) as CounterEntry;
    expect(j).toEqual({ type: 'counter', stamp: at(5), base: 1n, inc: new Map([['a', 3n], ['b', 1n], ['c', 4n]]), dec: new Map([['a', 2n], ['b', 1n]]) });
    expect([...j.inc.keys()]).toEqual(['a', 'b', 'c']);
    expect(counterValue(j)).toBe(6n);
    const newer: CounterEntry = { ...x, stamp: at(6), inc: new Map(), dec: new Map() };
    expect(merge(x, newer)).toBe(newer);
    expect(merge(newer, y)).toBe(newer);
    // Unequal bases cannot happen by construction; the join still picks deterministically (max).
    const z: CounterEntry = { ...x, base: 9n };
    expect((merge(x, z) as CounterEntry).base).toBe(9n);
    expect((merge(z, x) as CounterEntry).base).toBe(9n);
  });
});
