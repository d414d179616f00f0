import fc from 'fast-check';
import { type Hlc, ClockDriftError, CrdtError, HybridLogicalClock, ZERO_HLC, compareHlc, decodeHlc, encodeHlc } from './index.js';
import { fcParams, hex } from './testing/simulation.js';

const MAX_WALL = 2 ** 48 - 1;
const hlcArb = fc.record({ wall: fc.integer({ min: 0, max: MAX_WALL }), logical: fc.integer({ min: 0, max: 0xffff }) });

describe('HybridLogicalClock', () => {
  it('starts at zero and follows the wall clock', () => {
    let now = 1000;
    const c = new HybridLogicalClock({ now: () => now });
    expect(c.peek()).toEqual(ZERO_HLC);
    expect(c.tick()).toEqual({ wall: 1000, logical: 0 });
    expect(c.tick()).toEqual({ wall: 1000, logical: 1 });
    now = 1005;
    expect(c.tick()).toEqual({ wall: 1005, logical: 0 });
    expect(c.peek()).toEqual({ wall: 1005, logical: 0 });
    expect(c.peek()).toEqual({ wall: 1005, logical: 0 });
  });

  it('holds its wall time when the wall clock goes backwards', () => {
    let now = 5000;
    const c = new HybridLogicalClock({ now: () => now });
    c.tick();
    now = 10;
    expect(c.tick()).toEqual({ wall: 5000, logical: 1 });
  });

  it('borrows the next millisecond when the logical counter is exhausted', () => {
    const c = new HybridLogicalClock({ now: () => 7 });
    let last = c.tick();
    for (let i = 0; i < 0x10000; i++) {
      const next = c.tick();
      expect(compareHlc(next, last)).toBeGreaterThan(0);
      last = next;
    }
    expect(last).toEqual({ wall: 8, logical: 0 });
  });

  it('uses Date.now by default', () => {
    const before = Date.now();
    const t = new HybridLogicalClock().tick();
    expect(t.wall).toBeGreaterThanOrEqual(before);
    expect(t.wall).toBeLessThanOrEqual(Date.now());
  });

  it('clamps odd wall clock readings (NaN, negative, fractional, beyond 2^48)', () => {
    const readings = [NaN, -5, 1.7, 2 ** 60, Infinity, -Infinity];
    let i = 0;
    const c = new HybridLogicalClock({ now: () => readings[i++ % readings.length]! });
    expect(c.tick()).toEqual({ wall: 0, logical: 1 });
    expect(c.tick()).toEqual({ wall: 0, logical: 2 });
    expect(c.tick()).toEqual({ wall: 1, logical: 0 });
    expect(c.tick()).toEqual({ wall: MAX_WALL, logical: 0 });
    expect(c.tick()).toEqual({ wall: MAX_WALL, logical: 1 });
  });

  it('observe() makes later ticks exceed the remote timestamp', () => {
    const c = new HybridLogicalClock({ now: () => 100 });
    c.observe({ wall: 150, logical: 9 });
    expect(c.peek()).toEqual({ wall: 150, logical: 9 });
    expect(c.tick()).toEqual({ wall: 150, logical: 10 });
    c.observe({ wall: 120, logical: 0 }); // older: no effect
    expect(c.peek()).toEqual({ wall: 150, logical: 10 });
  });

  it('refuses a remote timestamp beyond the drift limit, counts it, and stays put', () => {
    const c = new HybridLogicalClock({ now: () => 1000, maxDriftMs: 50 });
    c.tick();
    c.observe({ wall: 1050, logical: 3 }); // exactly at the limit: accepted
    expect(c.driftRejections).toBe(0);
    const before = c.peek();
    let thrown: unknown;
    try {
      c.observe({ wall: 1051, logical: 0 });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ClockDriftError);
    expect((thrown as ClockDriftError).name).toBe('ClockDriftError');
    expect((thrown as ClockDriftError).remote).toEqual({ wall: 1051, logical: 0 });
    expect((thrown as ClockDriftError).message).toMatch(/51 ms ahead/);
    expect(c.driftRejections).toBe(1);
    expect(c.peek()).toBe(before);
    expect(() => c.observe({ wall: 9e9, logical: 0 })).toThrow(ClockDriftError);
    expect(c.driftRejections).toBe(2);
  });

  it('advancePast() folds in a trusted timestamp without the drift check', () => {
    const c = new HybridLogicalClock({ now: () => 1000, maxDriftMs: 10 });
    c.advancePast({ wall: 500_000, logical: 7 }); // e.g. persisted before the wall clock went back
    expect(c.driftRejections).toBe(0);
    expect(c.tick()).toEqual({ wall: 500_000, logical: 8 });
    c.advancePast({ wall: 400, logical: 0 });
    expect(c.peek()).toEqual({ wall: 500_000, logical: 8 });
    expect(() => c.advancePast({ wall: -1, logical: 0 })).toThrow(RangeError);
  });

  it('defaults maxDriftMs to 60 s', () => {
    const c = new HybridLogicalClock({ now: () => 0 });
    expect(() => c.observe({ wall: 60_000, logical: 0 })).not.toThrow();
    expect(() => c.observe({ wall: 60_001, logical: 0 })).toThrow(ClockDriftError);
  });

  it('rejects malformed remote timestamps and options', () => {
    const c = new HybridLogicalClock({ now: () => 0 });
    for (const bad of [{ wall: -1, logical: 0 }, { wall: 1.5, logical: 0 }, { wall: 2 ** 48, logical: 0 }, { wall: 0, logical: 0x10000 }, { wall: NaN, logical: 0 }]) {
      expect(() => c.observe(bad)).toThrow(RangeError);
    }
    expect(c.driftRejections).toBe(0);
    expect(() => new HybridLogicalClock({ maxDriftMs: -1 })).toThrow(RangeError);
  });

  it('never goes backwards under arbitrary wall clocks and remote timestamps (property)', () => {
    const action = fc.oneof(
      fc.record({ kind: fc.constant('tick' as const), now: fc.oneof(fc.integer({ min: -1000, max: 3000 }), fc.constantFrom(NaN, 2 ** 49)) }),
      fc.record({ kind: fc.constant('observe' as const), now: fc.integer({ min: 0, max: 3000 }), remote: fc.record({ wall: fc.integer({ min: 0, max: 4000 }), logical: fc.integer({ min: 0, max: 0xffff }) }) }),
    );
    fc.assert(
      fc.property(fc.array(action, { maxLength: 200 }), fc.integer({ min: 0, max: 1000 }), (actions, drift) => {
        let now = 0;
        const c = new HybridLogicalClock({ now: () => now, maxDriftMs: drift });
        let high: Hlc = ZERO_HLC; // greatest issued or observed
        let rejections = 0;
        for (const a of actions) {
          now = a.now;
          if (a.kind === 'tick') {
            const t = c.tick();
            expect(compareHlc(t, high)).toBeGreaterThan(0);
            expect(t.wall).toBeGreaterThanOrEqual(Math.min(Math.max(Number.isNaN(a.now) ? 0 : a.now, 0), MAX_WALL));
            high = t;
          } else if (a.remote.wall > a.now + drift) {
            const before = c.peek();
            expect(() => c.observe(a.remote)).toThrow(ClockDriftError);
            rejections++;
            expect(c.peek()).toEqual(before);
          } else {
            c.observe(a.remote);
            if (compareHlc(a.remote, high) > 0) high = a.remote;
          }
          expect(c.peek()).toEqual(high);
          expect(c.driftRejections).toBe(rejections);
        }
      }),
      fcParams(),
    );
  });
});

describe('HLC ordering and encoding', () => {
  it('compareHlc orders by wall, then logical', () => {
    expect(compareHlc({ wall: 1, logical: 9 }, { wall: 2, logical: 0 })).toBeLessThan(0);
    expect(compareHlc({ wall: 2, logical: 1 }, { wall: 2, logical: 0 })).toBeGreaterThan(0);
    expect(compareHlc({ wall: 2, logical: 1 }, { wall: 2, logical: 1 })).toBe(0);
  });

  it('encodes 8 bytes big-endian (golden)', () => {
    expect(hex(encodeHlc({ wall: 1_700_000_000_123, logical: 0x0102 }))).toBe('018bcfe5687b0102');
    expect(hex(encodeHlc(ZERO_HLC))).toBe('0000000000000000');
    expect(hex(encodeHlc({ wall: MAX_WALL, logical: 0xffff }))).toBe('ffffffffffffffff');
    expect(() => encodeHlc({ wall: 2 ** 48, logical: 0 })).toThrow(RangeError);
  });

  it('round-trips, at any offset, and byte order is time order (property)', () => {
    fc.assert(
      fc.property(hlcArb, hlcArb, fc.nat({ max: 5 }), (a, b, offset) => {
        const ea = encodeHlc(a);
        const padded = new Uint8Array(offset + 8);
        padded.set(ea, offset);
        expect(decodeHlc(padded, offset)).toEqual(a);
        expect(Math.sign(Buffer.compare(ea, encodeHlc(b)))).toBe(Math.sign(compareHlc(a, b)));
      }),
      fcParams(),
    );
  });

  it('decodeHlc throws CORRUPT when fewer than 8 bytes remain', () => {
    expect(() => decodeHlc(new Uint8Array(7))).toThrow(CrdtError);
    expect(() => decodeHlc(new Uint8Array(8), 1)).toThrow(expect.objectContaining({ code: 'CORRUPT' }));
    expect(() => decodeHlc(new Uint8Array(8), -1)).toThrow(CrdtError);
  });
});
