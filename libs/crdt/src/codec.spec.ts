import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { type CounterEntry, type Entry, type SetEntry, type Stamp, ATTRIBUTES_FORMAT_VERSION, CrdtError, FORMAT_VERSION, decodeEntry, encodeEntry, entryDigest } from './index.js';
import { anyEntryArb, canon, entriesArb, fcParams, hex, historyArb } from './testing/simulation.js';

const stamp: Stamp = { hlc: { wall: 1_700_000_000_123, logical: 2 }, node: 'n1' };
const tag = (wall: number, node: string): Stamp => ({ hlc: { wall, logical: 0 }, node });

/** Hand-written entries with their pinned encodings and digests: a change here is a format change. */
const GOLDEN: Array<{ name: string; entry: Entry; encoding: string; digest: string }> = [
  {
    name: 'register',
    entry: { type: 'register', stamp, value: new TextEncoder().encode('hello') },
    // version 01, kind 00, HLC 018bcfe5687b|0002, node 02 "n1", value 05 "hello"
    encoding: '0100018bcfe5687b0002026e310568656c6c6f',
    digest: '63223102802df3b12e7e5b3a8a40da2bd65d48e55e977d785a17f0e9e01cf9a6',
  },
  {
    name: 'tombstone',
    entry: { type: 'tombstone', stamp },
    encoding: '0101018bcfe5687b0002026e31',
    digest: '2a72523306db338492e7b5014043dd4b40afd84b62dcaad1195a61eb66079b05',
  },
  {
    name: 'counter',
    entry: {
      type: 'counter',
      stamp: { hlc: { wall: 1_700_000_000_000, logical: 0 }, node: 'n1' },
      base: -5n,
      inc: new Map([['a', 3n], ['b', 300n]]),
      dec: new Map([['a', 2n ** 64n]]),
    },
    // base zigzag(-5) = 09; inc 02 (01 "a" 03) (01 "b" ac02); dec 01 (01 "a" 2^64 as 9 x 80 then 02)
    encoding: '0102018bcfe568000000026e3109020161030162ac0201016180808080808080808002',
    digest: '8cb296ba0f3962bcf46424530146f479fa5607789d420ba1a4b5e89ece3167dc',
  },
  {
    name: 'set',
    entry: {
      type: 'set',
      stamp: { hlc: { wall: 0, logical: 0 }, node: '' },
      elements: new Map([
        ['x', [tag(1000, 'b'), tag(1001, 'a')]],
        ['y', [tag(1002, 'b')]],
      ]),
      removed: [tag(999, 'a')],
    },
    // node table 02 "a" "b"; elements 02: "x" 02 tags(1000@1, 1001@0), "y" 01 tag(1002@1); removed 01 tag(999@0)
    encoding: '01030000000000000000000201610162020178020000000003e80000010000000003e90000000179010000000003ea000001010000000003e7000000',
    digest: '8f954e6d2a66134a7a7898183a1b1e51bb80aa4d29fe02abdb12522e5443220d',
  },
];

/** Entries with attributes: format version 2. */
const GOLDEN_ATTRIBUTES: typeof GOLDEN = [
  {
    name: 'register with flags and an expiry of its own write',
    entry: { type: 'register', stamp, value: new TextEncoder().encode('hello'), expiry: { at: 1_700_000_060_123, stamp }, flags: 42 },
    // version 02, kind 00, stamp; attributes 03 (flags, expiry), flags 2a, at dba599ffbc31; value 05 "hello"
    encoding: '0200018bcfe5687b0002026e31032adba599ffbc310568656c6c6f',
    digest: 'c3027ef926e84cae6aa4dc74d7131f23f5a599f4adbfa52017cf0aa4755e2187',
  },
  {
    name: 'memcached counter at 2^64-1 whose expiry a later write took away',
    entry: {
      type: 'counter',
      stamp: { hlc: { wall: 1_700_000_000_000, logical: 0 }, node: 'n1' },
      base: 2n ** 64n - 1n,
      inc: new Map([['a', 3n]]),
      dec: new Map(),
      expiry: { at: 0, stamp: { hlc: { wall: 1_700_000_000_500, logical: 0 }, node: 'b' } },
    },
    // attributes 06 (expiry with its own stamp), at 00, stamp 018bcfe569f40000 01 "b"; base zigzag(2^64-1)
    encoding: '0202018bcfe568000000026e310600018bcfe569f400000162feffffffffffffffff030101610300',
    digest: '0e956c72e6da8afa50fb9bf32b656316782f818ee4d584f72973ef748d1179f1',
  },
];

const expectCorrupt = (bytes: Uint8Array): void => {
  let err: unknown;
  try {
    decodeEntry(bytes);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(CrdtError);
  expect((err as CrdtError).code).toBe('CORRUPT');
  expect((err as CrdtError).name).toBe('CrdtError');
};

const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h.replace(/\s|\|/g, ''), 'hex'));

describe('golden encodings and digests', () => {
  it.each(GOLDEN)('$name', ({ entry, encoding, digest }) => {
    expect(hex(encodeEntry(entry))).toBe(encoding);
    expect(hex(entryDigest(entry))).toBe(digest);
    expect(hex(createHash('sha256').update(fromHex(encoding)).digest())).toBe(digest);
    expect(decodeEntry(fromHex(encoding))).toEqual(entry);
  });

  it.each(GOLDEN_ATTRIBUTES)('$name', ({ entry, encoding, digest }) => {
    expect(hex(encodeEntry(entry))).toBe(encoding);
    expect(hex(entryDigest(entry))).toBe(digest);
    expect(decodeEntry(fromHex(encoding))).toEqual(entry);
  });

  it('starts with the format version: 1 without attributes (the first format, unchanged), 2 with them', () => {
    for (const g of GOLDEN) expect(encodeEntry(g.entry)[0]).toBe(FORMAT_VERSION);
    for (const g of GOLDEN_ATTRIBUTES) expect(encodeEntry(g.entry)[0]).toBe(ATTRIBUTES_FORMAT_VERSION);
  });
});

describe('encodeEntry', () => {
  it('is canonical: map insertion order does not matter', () => {
    const c = GOLDEN[2]!.entry as CounterEntry;
    const shuffled: CounterEntry = { ...c, inc: new Map([...c.inc].reverse()) };
    expect(hex(encodeEntry(shuffled))).toBe(GOLDEN[2]!.encoding);
    const s = GOLDEN[3]!.entry as SetEntry;
    const shuffledSet: SetEntry = { ...s, elements: new Map([...s.elements].reverse()) };
    expect(hex(encodeEntry(shuffledSet))).toBe(GOLDEN[3]!.encoding);
    expect(hex(entryDigest(shuffledSet))).toBe(GOLDEN[3]!.digest);
  });

  it('refuses states outside the invariants', () => {
    const c = GOLDEN[2]!.entry as CounterEntry;
    expect(() => encodeEntry({ ...c, base: 2n ** 64n })).toThrow(RangeError);
    expect(() => encodeEntry({ ...c, base: -(2n ** 63n) - 1n })).toThrow(RangeError);
    expect(() => encodeEntry({ ...c, inc: new Map([['a', 0n]]) })).toThrow(RangeError);
    expect(() => encodeEntry({ ...c, dec: new Map([['a', 2n ** 128n]]) })).toThrow(RangeError);
    expect(() => encodeEntry({ type: 'tombstone', stamp: { hlc: { wall: -1, logical: 0 }, node: 'a' } })).toThrow(RangeError);
    expect(() => encodeEntry({ type: 'tombstone', stamp: { hlc: { wall: 0, logical: 0 }, node: '\ud800' } })).toThrow(RangeError);
    const s = GOLDEN[3]!.entry as SetEntry;
    expect(() => encodeEntry({ ...s, removed: [tag(2, 'a'), tag(1, 'a')] })).toThrow(RangeError);
    expect(() => encodeEntry({ ...s, elements: new Map([['x', []]]) })).toThrow(RangeError);
  });

  it('handles large values and keeps working after them', () => {
    const big: Entry = { type: 'register', stamp, value: new Uint8Array(200_000).fill(7) };
    const enc = encodeEntry(big);
    expect(enc.length).toBe(200_000 + 16);
    expect(decodeEntry(enc)).toEqual(big);
    const bigSet: Entry = { type: 'set', stamp, elements: new Map([['z'.repeat(100_000), [tag(1, 'a')]]]), removed: [] };
    expect(decodeEntry(encodeEntry(bigSet))).toEqual(bigSet);
    expect(hex(entryDigest(bigSet))).toBe(hex(createHash('sha256').update(encodeEntry(bigSet)).digest()));
    expect(hex(entryDigest(GOLDEN[3]!.entry))).toBe(GOLDEN[3]!.digest);
  });
});

describe('decodeEntry', () => {
  it('round-trips every reachable state (property)', () => {
    fc.assert(
      fc.property(historyArb(), (h) => {
        for (const e of h.states) {
          const enc = encodeEntry(e);
          const back = decodeEntry(enc);
          expect(back).toEqual(e);
          expect(hex(encodeEntry(back))).toBe(hex(enc));
        }
      }),
      fcParams(200),
    );
  });

  it('round-trips extreme states: full HLC range, any node id, any bytes, huge totals (property)', () => {
    fc.assert(
      fc.property(anyEntryArb, (e) => {
        const enc = encodeEntry(e);
        expect(decodeEntry(enc)).toEqual(e);
        expect(hex(encodeEntry(decodeEntry(enc)))).toBe(hex(enc));
      }),
      fcParams(1000),
    );
  });

  it('copies: the result does not alias the input', () => {
    const enc = fromHex(GOLDEN[0]!.encoding);
    const e = decodeEntry(enc);
    enc.fill(0);
    expect(e).toEqual(GOLDEN[0]!.entry);
  });

  it('accepts a view into a larger buffer', () => {
    const enc = fromHex(GOLDEN[3]!.encoding);
    const padded = new Uint8Array(enc.length + 10);
    padded.set(enc, 5);
    expect(decodeEntry(padded.subarray(5, 5 + enc.length))).toEqual(GOLDEN[3]!.entry);
  });

  it.each([
    ['empty input', ''],
    ['unknown version', '0300018bcfe5687b0002026e310568656c6c6f'],
    ['version 2 without attributes', '0200018bcfe5687b0002026e31 00 0568656c6c6f'],
    ['version 2 tombstone', '0201018bcfe5687b0002026e31 01 2a'],
    ['flags 0 spelt out', '0200018bcfe5687b0002026e31 01 00 0568656c6c6f'],
    ['flags beyond 32 bits', '0200018bcfe5687b0002026e31 01 8080808010 0568656c6c6f'],
    ['an expiry stamp without an expiry', '0200018bcfe5687b0002026e31 04 018bcfe5687b0002 0162 0568656c6c6f'],
    ['an expiry stamp equal to the entry stamp', '0200018bcfe5687b0002026e31 06 00 018bcfe5687b0002 026e31 0568656c6c6f'],
    ['an unknown attribute bit', '0200018bcfe5687b0002026e31 08 0568656c6c6f'],
    ['an expiry beyond 48 bits', '0200018bcfe5687b0002026e31 02 8080808080808001 0568656c6c6f'],
    ['version 0', '0000018bcfe5687b0002026e310568656c6c6f'],
    ['unknown kind', '0104018bcfe5687b0002026e31'],
    ['trailing byte', '0101018bcfe5687b0002026e3100'],
    ['truncated HLC', '0101018bcfe5'],
    ['node length beyond input', '0101018bcfe5687b0002056e31'],
    ['non-minimal varint', '0101018bcfe5687b0002 8200 6e31'],
    ['varint too long', '0101018bcfe5687b0002 ffffffffffffffff01'],
    ['invalid UTF-8 node id', '0101018bcfe5687b0002 02c328'],
    ['value length beyond input', '0100018bcfe5687b0002026e31ff0168'],
    ['counter base beyond uint64 (zigzag 2^65)', '0102018bcfe568000000026e31 80808080808080808004 00 00'],
    ['counter base below int64 (zigzag 2^64 + 1)', '0102018bcfe568000000026e31 81808080808080808002 00 00'],
    ['counter total zero', '0102018bcfe568000000026e3109 01 0161 00 00'],
    ['counter total 2^128', '0102018bcfe568000000026e3109 01 0161 ' + '80'.repeat(18) + '04 00'],
    ['counter total varint too long', '0102018bcfe568000000026e3109 01 0161 ' + '80'.repeat(19) + '01 00'],
    ['counter nodes not ascending', '0102018bcfe568000000026e3109 02 0162 01 0161 01 00'],
    ['counter duplicate node', '0102018bcfe568000000026e3109 02 0161 01 0161 02 00'],
    ['counter count beyond input', '0102018bcfe568000000026e3109 7f 0161 01'],
    ['set node table not ascending', '0103 0000000000000000 00 02 0162 0161 01 0178 01 0000000003e8000000 00'],
    ['set unused node', '0103 0000000000000000 00 02 0161 0162 01 0178 01 0000000003e8000000 00'],
    ['set node index out of range', '0103 0000000000000000 00 01 0161 01 0178 01 0000000003e8000005 00'],
    ['set element without tags', '0103 0000000000000000 00 00 01 0178 00 00'],
    ['set elements not ascending', '0103 0000000000000000 00 01 0161 02 0179 01 0000000003e8000000 0178 01 0000000003e9000000 00'],
    ['set tags not ascending', '0103 0000000000000000 00 01 0161 01 0178 02 0000000003e9000000 0000000003e8000000 00'],
    ['set live tag also removed', '0103 0000000000000000 00 01 0161 01 0178 01 0000000003e8000000 01 0000000003e8000000'],
  ])('refuses %s', (_name, h) => {
    expectCorrupt(fromHex(h));
  });

  it('refuses what is not a byte array, with CORRUPT', () => {
    expectCorrupt('0101' as unknown as Uint8Array);
    expectCorrupt(null as unknown as Uint8Array);
  });

  it('every strict prefix of a valid encoding is CORRUPT (property)', () => {
    fc.assert(
      fc.property(anyEntryArb, (e) => {
        const enc = encodeEntry(e);
        for (let n = 0; n < enc.length; n++) expectCorrupt(enc.subarray(0, n));
      }),
      fcParams(200),
    );
  });

  it('a flipped byte gives CORRUPT or another canonical entry, never another error (property)', () => {
    fc.assert(
      fc.property(anyEntryArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (e, at, x) => {
        const enc = new Uint8Array(encodeEntry(e));
        const i = at % enc.length;
        enc[i] = enc[i]! ^ x;
        let back: Entry;
        try {
          back = decodeEntry(enc);
        } catch (err) {
          expect(err).toBeInstanceOf(CrdtError);
          expect((err as CrdtError).code).toBe('CORRUPT');
          return;
        }
        expect(hex(encodeEntry(back))).toBe(hex(enc)); // canonical: one state, one encoding
      }),
      fcParams(2000),
    );
  });

  it('random bytes give CORRUPT or a canonical entry (property)', () => {
    const header = fc.constantFrom(new Uint8Array([]), new Uint8Array([1]), new Uint8Array([1, 0]), new Uint8Array([1, 1]), new Uint8Array([1, 2]), new Uint8Array([1, 3]));
    fc.assert(
      fc.property(header, fc.uint8Array({ maxLength: 80 }), (h, rest) => {
        const bytes = new Uint8Array([...h, ...rest]);
        try {
          const e = decodeEntry(bytes);
          expect(hex(encodeEntry(e))).toBe(hex(bytes));
        } catch (err) {
          expect(err).toBeInstanceOf(CrdtError);
          expect((err as CrdtError).code).toBe('CORRUPT');
        }
      }),
      fcParams(5000),
    );
  });
});

describe('entryDigest', () => {
  it('is the SHA-256 of the canonical encoding, stable across calls (property)', () => {
    fc.assert(
      fc.property(anyEntryArb, (e) => {
        const d = entryDigest(e);
        expect(d.length).toBe(32);
        expect(hex(d)).toBe(hex(createHash('sha256').update(encodeEntry(e)).digest()));
        expect(hex(entryDigest(decodeEntry(encodeEntry(e))))).toBe(hex(d));
      }),
      fcParams(500),
    );
  });

  it('differs exactly when states differ (property)', () => {
    fc.assert(
      fc.property(fc.oneof(entriesArb(2), fc.tuple(anyEntryArb, anyEntryArb)), ([a, b]) => {
        expect(hex(entryDigest(a!)) === hex(entryDigest(b!))).toBe(canon(a) === canon(b));
      }),
      fcParams(1000),
    );
  });

  it('tells apart type, stamp and tombstone at the same stamp', () => {
    const s = GOLDEN[0]!.entry.stamp;
    const variants: Entry[] = [
      { type: 'register', stamp: s, value: new Uint8Array() },
      { type: 'register', stamp: s, value: new Uint8Array([0]) },
      { type: 'register', stamp: { ...s, node: 'n2' }, value: new Uint8Array() },
      { type: 'register', stamp: { ...s, hlc: { ...s.hlc, logical: 3 } }, value: new Uint8Array() },
      { type: 'tombstone', stamp: s },
      { type: 'counter', stamp: s, base: 0n, inc: new Map(), dec: new Map() },
      { type: 'counter', stamp: s, base: 0n, inc: new Map([['a', 1n]]), dec: new Map() },
      { type: 'counter', stamp: s, base: 0n, inc: new Map(), dec: new Map([['a', 1n]]) },
      { type: 'set', stamp: s, elements: new Map(), removed: [] },
      { type: 'set', stamp: s, elements: new Map(), removed: [tag(1, 'a')] },
      { type: 'set', stamp: s, elements: new Map([['', [tag(1, 'a')]]]), removed: [] },
    ];
    const digests = new Set(variants.map((v) => hex(entryDigest(v))));
    expect(digests.size).toBe(variants.length);
  });
});
