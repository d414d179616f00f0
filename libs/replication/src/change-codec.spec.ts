import fc from 'fast-check';
import { type Stamp, assign, increment, setAdd } from '#crdt';
import { CHANGE_FORMAT_VERSION, decodeChange, decodeChangeHead, decodeChangePayload, encodeChange, parseWrittenHeader, writtenHeaderOf } from './change-codec.js';
import { ReplicationError } from './errors.js';
import { type ChangeRecord } from './ports.js';
import { canon, changeArb } from './testing/arbitraries.js';

const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns,
  seed: process.env['FC_SEED'] !== undefined ? Number(process.env['FC_SEED']) : 0x5eed,
});
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Runs `f`; returns 'ok', or the error code when it threw a ReplicationError; rethrows anything else. */
function outcome(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (err) {
    if (err instanceof ReplicationError) return err.code;
    throw err;
  }
}

const stamp: Stamp = { hlc: { wall: 1_700_000_000_123, logical: 2 }, node: 'n1' };
const sample: ChangeRecord = {
  kind: 'entry',
  origin: 'node-a',
  seq: 300n,
  shard: 7,
  key: 'k',
  entry: assign(undefined, new TextEncoder().encode('v'), stamp).entry,
};

describe('encodeChange / decodeChange', () => {
  it('pins the format: a change here is a wire format change', () => {
    // 01 version, 00 entry, 0007 shard, ac02 seq 300, 06 "node-a", 01 "k", then the #crdt entry
    expect(hex(encodeChange(sample))).toBe('01000007ac02066e6f64652d61016b' + '0100018bcfe5687b0002026e310176');
    const truncate: ChangeRecord = { kind: 'truncate', origin: 'b', seq: 0n, shard: 4095, floor: stamp };
    // 01, 01 truncate, 0fff shard, 00 seq, 01 "b", HLC, 02 "n1"
    expect(hex(encodeChange(truncate))).toBe('01010fff000162' + '018bcfe5687b0002' + '026e31');
    expect(encodeChange(sample)[0]).toBe(CHANGE_FORMAT_VERSION);
  });

  it('round-trips every change, and the result never aliases the input', () => {
    fc.assert(
      fc.property(changeArb, (r) => {
        const bytes = encodeChange(r);
        const back = decodeChange(bytes);
        expect(canon(back)).toEqual(canon(r));
        expect(hex(encodeChange(back))).toBe(hex(bytes));
        if (back.kind === 'entry' && back.entry.type === 'register' && back.entry.value.length > 0) {
          const before = hex(back.entry.value);
          bytes.fill(0xee);
          expect(hex(back.entry.value)).toBe(before);
        }
      }),
      params(500),
    );
  });

  it('throws only BAD_MESSAGE on random bytes, and whatever it accepts re-encodes to the same bytes', () => {
    const version1 = fc.uint8Array({ maxLength: 80 }).map((b) => Uint8Array.from([1, ...b]));
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), version1), (bytes) => {
        let decoded: ChangeRecord | undefined;
        const result = outcome(() => (decoded = decodeChange(bytes)));
        expect(['ok', 'BAD_MESSAGE']).toContain(result);
        if (decoded !== undefined) expect(hex(encodeChange(decoded))).toBe(hex(bytes));
      }),
      params(3000),
    );
  });

  it('refuses every truncation, any trailing bytes and any other version', () => {
    fc.assert(
      fc.property(changeArb, fc.uint8Array({ minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 255 }), (r, extra, version) => {
        const bytes = encodeChange(r);
        for (let n = 0; n < bytes.length; n++) expect(outcome(() => decodeChange(bytes.subarray(0, n)))).toBe('BAD_MESSAGE');
        expect(outcome(() => decodeChange(Uint8Array.from([...bytes, ...extra])))).toBe('BAD_MESSAGE');
        const other = Uint8Array.from(bytes);
        other[0] = version === CHANGE_FORMAT_VERSION ? 0 : version;
        expect(outcome(() => decodeChange(other))).toBe('BAD_MESSAGE');
      }),
      params(200),
    );
  });

  it('throws only BAD_MESSAGE when any byte of a valid change is flipped', () => {
    fc.assert(
      fc.property(changeArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, at, xor) => {
        const bytes = Uint8Array.from(encodeChange(r));
        const i = at % bytes.length;
        bytes[i] = bytes[i]! ^ xor;
        let decoded: ChangeRecord | undefined;
        expect(['ok', 'BAD_MESSAGE']).toContain(outcome(() => (decoded = decodeChange(bytes))));
        if (decoded !== undefined) expect(hex(encodeChange(decoded))).toBe(hex(bytes));
      }),
      params(1000),
    );
  });

  it('refuses shards out of range, bad origins, non-minimal varints and invalid UTF-8', () => {
    const good = encodeChange(sample);
    // shard 4096 on the wire; and shard 7 when the cluster has 4 shards
    const shard4096 = Uint8Array.from(good);
    shard4096[2] = 0x10;
    shard4096[3] = 0x00;
    expect(outcome(() => decodeChange(shard4096))).toBe('BAD_MESSAGE');
    expect(outcome(() => decodeChange(good, { shards: 4 }))).toBe('BAD_MESSAGE');
    expect(outcome(() => decodeChange(good, { shards: 8 }))).toBe('ok');
    // seq 300 spelled with a redundant continuation byte
    const nonMinimal = Uint8Array.from([...good.subarray(0, 4), 0xac, 0x82, 0x00, ...good.subarray(6)]);
    expect(outcome(() => decodeChange(nonMinimal))).toBe('BAD_MESSAGE');
    // key byte 'k' replaced by 0xff (never valid UTF-8), and by an overlong NUL (c0 80)
    const keyAt = hex(good).indexOf('016b') / 2 + 1;
    const badKey = Uint8Array.from(good);
    badKey[keyAt] = 0xff;
    expect(outcome(() => decodeChange(badKey))).toBe('BAD_MESSAGE');
    const overlong = Uint8Array.from([...good.subarray(0, keyAt - 1), 2, 0xc0, 0x80, ...good.subarray(keyAt + 1)]);
    expect(outcome(() => decodeChange(overlong))).toBe('BAD_MESSAGE');
    // origin "node.a" is not a node id
    const dotted = Uint8Array.from(good);
    dotted[hex(good).indexOf('2d61') / 2] = 0x2e;
    expect(outcome(() => decodeChange(dotted))).toBe('BAD_MESSAGE');
    // a leading BOM in a key is data, not decoration
    const bom = { ...sample, key: '\uFEFFk' };
    expect(decodeChange(encodeChange(bom))).toMatchObject({ key: '\uFEFFk' });
    // not even bytes
    expect(outcome(() => decodeChange('01' as unknown as Uint8Array))).toBe('BAD_MESSAGE');
  });

  it('decodes the head of every change as the whole decoder does, then the rest from where it ended, and refuses every bad head', () => {
    fc.assert(
      fc.property(changeArb, (r) => {
        const bytes = encodeChange(r);
        // Version, kind, shard, the seq's varint, then the origin (at most 64 bytes: a one-byte length).
        const headBytes = 4 + Math.max(1, Math.ceil(r.seq.toString(2).length / 7)) + 1 + r.origin.length;
        const head = decodeChangeHead(bytes);
        expect(head).toEqual({ kind: r.kind, origin: r.origin, seq: r.seq, shard: r.shard, end: headBytes });
        expect(canon(decodeChangePayload(bytes, head))).toEqual(canon(r));
        for (let n = 0; n < headBytes; n++) expect(outcome(() => decodeChangeHead(bytes.subarray(0, n)))).toBe('BAD_MESSAGE');
        expect(outcome(() => decodeChangeHead(bytes.subarray(0, headBytes)))).toBe('ok');
      }),
      params(200),
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        const head = outcome(() => decodeChangeHead(bytes));
        expect(['ok', 'BAD_MESSAGE']).toContain(head);
        // Whatever the whole decoder accepts, the head decoder accepts too.
        if (outcome(() => decodeChange(bytes)) === 'ok') expect(head).toBe('ok');
      }),
      params(3000),
    );
    const good = encodeChange(sample);
    expect(outcome(() => decodeChangeHead(good, { shards: 4 }))).toBe('BAD_MESSAGE');
    const unknownKind = Uint8Array.from(good);
    unknownKind[1] = 2;
    expect(outcome(() => decodeChangeHead(unknownKind))).toBe('BAD_MESSAGE');
  });

  it('refuses to encode what has no encoding, with BAD_RECORD', () => {
    expect(outcome(() => encodeChange({ ...sample, shard: 4096 }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, shard: -1 }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, shard: 1.5 }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, seq: -1n }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, seq: 2n ** 64n }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, origin: 'a.b' }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, key: '' }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, key: 'x\uD800' }))).toBe('BAD_RECORD');
    expect(outcome(() => encodeChange({ ...sample, kind: 'nope' } as unknown as ChangeRecord))).toBe('BAD_RECORD');
  });
});

describe('the MerkleKV-Written header', () => {
  const written = { wall: 1_700_000_000_456, logical: 3 };
  const counter: ChangeRecord = { ...sample, entry: increment(undefined, 1n, stamp).entry, written };

  it("dates a counter's or set's change, whose stamp is its epoch, and round-trips the write's clock", () => {
    expect(writtenHeaderOf(counter)).toBe('1700000000456.3');
    expect(parseWrittenHeader(writtenHeaderOf(counter))).toEqual(written);
    expect(writtenHeaderOf({ ...sample, entry: setAdd(undefined, new Uint8Array([1]), stamp).entry, written })).toBe('1700000000456.3');
  });

  it("is left off where the entry's stamp is the write, or the write's clock is unknown", () => {
    expect(writtenHeaderOf({ ...sample, written })).toBeUndefined();
    expect(writtenHeaderOf({ kind: 'truncate', origin: 'a', seq: 1n, shard: 0, floor: stamp })).toBeUndefined();
    expect(writtenHeaderOf({ ...counter, written: undefined })).toBeUndefined();
  });

  it('reads anything else as no date', () => {
    for (const value of [undefined, '', '12', '12.', '.3', '-1.0', '1.2.3', ' 1.2', '1.65536', `${2 ** 48}.0`, '1e3.0']) {
      expect(parseWrittenHeader(value)).toBeUndefined();
    }
  });
});
