import fc from 'fast-check';
import { LatencyHistogram } from './histogram.js';

describe('LatencyHistogram', () => {
  it('is exact below 128 µs and within 1% above', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 31 - 1 }), (v) => {
        const h = new LatencyHistogram();
        h.record(v);
        const p = h.percentile(0.5);
        if (v < 128) expect(p).toBe(v);
        else expect(Math.abs(p - v) / v).toBeLessThan(0.01);
      }),
      { seed: 42 },
    );
  });

  it('finds percentiles of a known distribution and merges', () => {
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    for (let v = 1; v <= 1000; v += 1) (v % 2 === 0 ? a : b).record(v * 10);
    a.add(b);
    expect(a.count).toBe(1000);
    expect(a.max).toBe(10_000);
    expect(a.mean).toBeCloseTo(5005, 5);
    expect(Math.abs(a.percentile(0.5) - 5000) / 5000).toBeLessThan(0.01);
    expect(Math.abs(a.percentile(0.99) - 9900) / 9900).toBeLessThan(0.01);
    const copy = LatencyHistogram.fromSnapshot(a.snapshot());
    expect(copy.percentile(0.99)).toBe(a.percentile(0.99));
    expect(new LatencyHistogram().percentile(0.5)).toBe(0);
  });
});
