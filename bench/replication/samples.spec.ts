import { nearestRank, SampleBook, summarize } from './samples.js';

describe('nearestRank and summarize', () => {
  it('take the ceil(q*n)-th smallest value', () => {
    const values = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
    const s = summarize(values);
    expect(s).toMatchObject({ count: 100, p50: 50, p90: 90, p99: 99, p999: 100, min: 1, max: 100, mean: 50.5 });
    expect(nearestRank([7], 0.99)).toBe(7);
    expect(nearestRank([], 0.5)).toBeNaN();
  });

  it('keeps negative values as they are', () => {
    const s = summarize(Float64Array.from([-2, 3, -0.5, 1]));
    expect(s.min).toBe(-2);
    expect(s.p50).toBe(-0.5);
    expect(s.max).toBe(3);
  });

  it('summarizes nothing as NaNs', () => {
    expect(summarize(new Float64Array(0)).p99).toBeNaN();
  });
});

describe('SampleBook', () => {
  it('measures acknowledged-to-seen per observer, in any order of arrival', () => {
    const book = new SampleBook(2);
    book.issued(0, 10);
    book.seen(1, 0, 11.5); // a replica read before the ack: negative latency
    book.acked(0, 12);
    book.seen(0, 0, 15);
    book.issued(1, 20);
    book.acked(1, 21);
    book.seen(0, 1, 22);
    book.seen(1, 1, 25);
    const a = book.analyze({ from: 0, to: 2 });
    expect(a).toMatchObject({ issued: 2, acked: 2, unacked: 0, lost: 0, unexpected: 0, ackedInWindow: 2, negative: 1 });
    expect(a.visible.count).toBe(4);
    expect(a.visible.min).toBe(-0.5);
    expect(a.visible.max).toBe(4);
    expect(a.visibleFromIssue.min).toBe(1.5);
    expect(a.ack.count).toBe(2);
    expect(a.ack.max).toBe(2);
  });

  it('counts a write some observer never saw as lost, once', () => {
    const book = new SampleBook(2);
    for (let seq = 0; seq < 3; seq += 1) {
      book.issued(seq, seq);
      book.acked(seq, seq + 0.1);
    }
    book.seen(0, 0, 1);
    book.seen(1, 0, 1);
    book.seen(0, 1, 2);
    const a = book.analyze({ from: 0, to: 3 });
    expect(a.lost).toBe(2);
    expect(a.lostByObserver).toEqual([1, 2]);
    expect(book.outstanding(0, 3)).toBe(3);
    expect(book.outstanding(0, 1)).toBe(0);
  });

  it('does not count an unacknowledged write as lost, and says it was not acknowledged', () => {
    const book = new SampleBook(1);
    book.issued(0, 0);
    const a = book.analyze({ from: 0, to: 1 });
    expect(a).toMatchObject({ issued: 1, acked: 0, unacked: 1, lost: 0 });
    expect(book.outstanding(0, 1)).toBe(0);
  });

  it('limits latencies and throughput to writes acknowledged in the window, losses to the range', () => {
    const book = new SampleBook(1);
    for (let seq = 0; seq < 10; seq += 1) {
      book.issued(seq, seq * 100);
      book.acked(seq, seq * 100 + 1);
      if (seq !== 0) book.seen(0, seq, seq * 100 + 1 + seq);
    }
    const a = book.analyze({ from: 0, to: 10, window: { startMs: 200, endMs: 701 } });
    // Writes 2..7 were acknowledged in [200, 701): ack times 201, 301, ..., 701 is out.
    expect(a.ackedInWindow).toBe(5);
    expect(a.ackedPerSec).toBeCloseTo(5 / 0.501);
    expect(a.visible.min).toBe(2);
    expect(a.visible.max).toBe(6);
    expect(a.lost).toBe(1);
  });

  it('keeps the first sighting and counts repeats and writes never issued', () => {
    const book = new SampleBook(1);
    book.issued(0, 0);
    book.acked(0, 1);
    expect(book.seen(0, 0, 2)).toBe(true);
    expect(book.seen(0, 0, 9)).toBe(false);
    expect(book.seen(0, 5000, 3)).toBe(true);
    expect(book.duplicates).toBe(1);
    expect(book.seenAt(0, 0)).toBe(2);
    expect(book.lastSeenMs).toBe(3);
    const a = book.analyze({ from: 0, to: 6000 });
    expect(a.unexpected).toBe(1);
    expect(a.visible.max).toBe(1);
  });

  it('ignores a second acknowledgement of the same write', () => {
    const book = new SampleBook(1);
    book.issued(0, 0);
    book.acked(0, 1);
    book.acked(0, 5);
    expect(book.ackedAt(0)).toBe(1);
  });

  it('grows past its initial capacity', () => {
    const book = new SampleBook(1);
    const n = 100_000;
    for (let seq = 0; seq < n; seq += 1) {
      book.issued(seq, seq);
      book.acked(seq, seq + 1);
      book.seen(0, seq, seq + 3);
    }
    expect(book.size).toBe(n);
    const a = book.analyze({ from: 0, to: n });
    expect(a.visible).toMatchObject({ count: n, p50: 2, p99: 2 });
  });

  it('splits the window into intervals of acknowledgement time', () => {
    const book = new SampleBook(1);
    for (let seq = 0; seq < 30; seq += 1) {
      book.issued(seq, seq * 100);
      book.acked(seq, seq * 100);
      book.seen(0, seq, seq * 100 + (seq >= 20 ? 50 : 1));
    }
    const t = book.timeline({ from: 0, to: 30, window: { startMs: 1000, endMs: 2500 } }, 1000);
    expect(t.map((s) => [s.count, s.max])).toEqual([
      [10, 1],
      [5, 50],
    ]);
    expect(book.timeline({ from: 0, to: 30, window: { startMs: 0.1, endMs: 0.1 + 3 * 0.1 * 10_000 } }, 1000)).toHaveLength(3);
    expect(() => book.timeline({ from: 0, to: 1, window: { startMs: 0, endMs: 1 } }, 0)).toThrow(RangeError);
  });

  it('rejects bad sequence numbers and observers', () => {
    const book = new SampleBook(1);
    expect(() => book.issued(-1, 0)).toThrow(RangeError);
    expect(() => book.acked(1.5, 0)).toThrow(RangeError);
    expect(() => book.seen(1, 0, 0)).toThrow(RangeError);
    expect(() => new SampleBook(0)).toThrow(RangeError);
  });
});
