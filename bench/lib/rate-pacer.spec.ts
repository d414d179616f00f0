import { operationsFor, RatePacer } from './rate-pacer.js';

describe('RatePacer', () => {
  it('makes operation 0 due at the start and one more every 1/rate', () => {
    const p = new RatePacer(2000, 100);
    expect(p.dueBy(99.9)).toBe(0);
    expect(p.dueBy(100)).toBe(1);
    expect(p.dueBy(100.49)).toBe(1);
    expect(p.dueBy(100.5)).toBe(2);
    expect(p.dueBy(101)).toBe(3);
    expect(p.dueAt(0)).toBe(100);
    expect(p.dueAt(4)).toBe(102);
  });

  it('does not drift over a long run', () => {
    const p = new RatePacer(3, 0);
    // 3/s for 1e6 s: operation 3e6 is due at exactly 1e9 ms.
    expect(p.dueBy(1e9 - 0.001)).toBe(3_000_000);
    expect(p.dueBy(1e9)).toBe(3_000_001);
  });

  it('lets a stalled caller catch up at once, up to the total', () => {
    const p = new RatePacer(1000, 0, 50);
    expect(p.dueBy(10)).toBe(11);
    expect(p.dueBy(10_000)).toBe(50);
    expect(p.done(49)).toBe(false);
    expect(p.done(50)).toBe(true);
  });

  it('says how long to wait for the next operation', () => {
    const p = new RatePacer(100, 0);
    expect(p.waitMs(3, 25)).toBe(5);
    expect(p.waitMs(3, 31)).toBe(0);
  });

  it('issues exactly rate x seconds operations over the run', () => {
    const total = operationsFor(2000, 1.5);
    const p = new RatePacer(2000, 0, total);
    let issued = 0;
    // A caller ticking every 1.3 ms, as a timer would.
    for (let now = 0; !p.done(issued); now += 1.3) issued = Math.max(issued, p.dueBy(now));
    expect(issued).toBe(3000);
  });

  it('rejects nonsense rates', () => {
    expect(() => new RatePacer(0, 0)).toThrow(RangeError);
    expect(() => new RatePacer(Number.NaN, 0)).toThrow(RangeError);
    expect(() => new RatePacer(Infinity, 0)).toThrow(RangeError);
    expect(() => new RatePacer(1, 0, -1)).toThrow(RangeError);
  });
});
