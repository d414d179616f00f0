import { gcFigures, gcSummary } from './replica-gc.js';

/** The node's exposition, cut to what the probe reads. */
const metrics = (minor: readonly number[], sum: number, lag: { p99: number; max: number }, major?: readonly number[]): string =>
  [
    '# TYPE merklekv_event_loop_lag_p99_seconds gauge',
    `merklekv_event_loop_lag_p99_seconds ${lag.p99}`,
    '# TYPE merklekv_event_loop_lag_max_seconds gauge',
    `merklekv_event_loop_lag_max_seconds ${lag.max}`,
    '# TYPE nodejs_gc_duration_seconds histogram',
    ...['0.001', '0.01', '0.1', '1', '2', '5', '+Inf'].map((le, i) => `nodejs_gc_duration_seconds_bucket{le="${le}",kind="minor"} ${minor[i] ?? minor.at(-1) ?? 0}`),
    `nodejs_gc_duration_seconds_sum{kind="minor"} ${sum}`,
    `nodejs_gc_duration_seconds_count{kind="minor"} ${minor.at(-1) ?? 0}`,
    ...(major === undefined
      ? []
      : [
          ...['0.001', '0.01', '0.1', '1', '2', '5', '+Inf'].map((le, i) => `nodejs_gc_duration_seconds_bucket{le="${le}",kind="major"} ${major[i] ?? major.at(-1) ?? 0}`),
          'nodejs_gc_duration_seconds_sum{kind="major"} 0.05',
          `nodejs_gc_duration_seconds_count{kind="major"} ${major.at(-1) ?? 0}`,
        ]),
    '',
  ].join('\n');

describe('gcFigures', () => {
  it('reports the window: count, total, per second, share, mean, p99 and max to the buckets, per kind, event-loop lag', () => {
    const start = { text: metrics([0, 2, 2, 2, 2, 2, 2], 0.004, { p99: 0.05, max: 0.07 }), atMs: 1000 };
    // 200 minor pauses in the window, 2 of them over 10 ms; one major (a kind unseen at the start) of 50 ms.
    const end = { text: metrics([100, 200, 202, 202, 202, 202, 202], 0.404, { p99: 0.021, max: 0.033 }, [0, 0, 1, 1, 1, 1, 1]), atMs: 21_000 };
    const f = gcFigures(start, end);
    expect(f).toEqual({
      window_s: 20,
      pauses: 201,
      pause_s: 0.45,
      pause_ms_per_s: 22.5,
      wall_share_pct: 2.25,
      mean_pause_ms: 2.239,
      p99_pause_le_ms: 100,
      p99_pause_above_ms: 10,
      max_pause_le_ms: 100,
      pauses_per_bucket_ms: { '1': 100, '10': 98, '100': 3, '1000': 0, '2000': 0, '5000': 0, '+Inf': 0 },
      by_kind: { major: { pauses: 1, pause_ms: 50 }, minor: { pauses: 200, pause_ms: 400 } },
      event_loop_lag_p99_ms: 21,
      event_loop_lag_max_ms: 33,
    });
    expect(gcSummary('b', f)).toContain('201 GC pauses (major 1, minor 200)');
    expect(gcSummary('b', f)).toContain('p99 <= 100 ms');
  });

  it('has no pause figures for a window without pauses, and fails without the metric', () => {
    const text = metrics([1, 1, 1, 1, 1, 1, 1], 0.0005, { p99: 0.02, max: 0.02 });
    const f = gcFigures({ text, atMs: 0 }, { text, atMs: 5000 });
    expect(f).toMatchObject({ pauses: 0, pause_s: 0, mean_pause_ms: null, p99_pause_le_ms: null, max_pause_le_ms: null, wall_share_pct: 0 });
    expect(() => gcFigures({ text: 'up 1\n', atMs: 0 }, { text, atMs: 1 })).toThrow(/no nodejs_gc_duration_seconds/);
  });
});
