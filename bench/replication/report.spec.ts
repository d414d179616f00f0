import { goalMet, jetstreamFigures, merklekvFigures, ms, ratio } from './report.js';
import { SampleBook } from './samples.js';

describe('report', () => {
  it('rounds milliseconds and ratios to 3 decimals, null when meaningless', () => {
    expect(ms(1.23456)).toBe(1.235);
    expect(ms(-0.0004)).toBe(-0);
    expect(ms(Number.NaN)).toBeNull();
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNull();
    expect(ratio(1, -1)).toBeNull();
    expect(ratio(Number.NaN, 1)).toBeNull();
  });

  it('meets the goal at 1.5 and not above, nor without a ratio', () => {
    expect(goalMet(1.5)).toBe(true);
    expect(goalMet(1.501)).toBe(false);
    expect(goalMet(null)).toBe(false);
  });

  it('names the figures as the JSON line does', () => {
    const book = new SampleBook(2);
    book.issued(0, 0);
    book.acked(0, 1);
    book.seen(0, 0, 3);
    book.seen(1, 0, 0.5);
    const a = book.analyze({ from: 0, to: 1, window: { startMs: 0, endMs: 1000 } });
    expect(merklekvFigures(a)).toMatchObject({ visible_p50_ms: -0.5, visible_p99_ms: 2, visible_max_ms: 2, samples: 2, negative: 1, lost: 0, writes: 1 });
    expect(jetstreamFigures(a)).toMatchObject({ p50_ms: -0.5, p99_ms: 2, samples: 2, from_publish_start_p99_ms: 3, publish_ack_p50_ms: 1 });
    expect(JSON.stringify(merklekvFigures(book.analyze({ from: 1, to: 1 })))).toContain('"visible_p99_ms":null');
  });
});
