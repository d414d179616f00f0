import { histogramDelta, histogramValue, metricValue, parseSample, quantileBucket } from './prometheus.js';

const TEXT = [
  '# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.',
  '# TYPE nodejs_heap_size_used_bytes gauge',
  'nodejs_heap_size_used_bytes 38620256',
  'nodejs_heap_size_used_bytes_other 5',
  'nodejs_heap_space_size_used_bytes{space="new"} 100',
  'nodejs_heap_space_size_used_bytes{space="old",note="a}b"} 23 1700000000000',
  'process_resident_memory_bytes 1.352e8',
  '',
].join('\n');

describe('metricValue', () => {
  it('reads an unlabelled sample', () => {
    expect(metricValue(TEXT, 'nodejs_heap_size_used_bytes')).toBe(38620256);
    expect(metricValue(TEXT, 'process_resident_memory_bytes')).toBe(135200000);
  });

  it('adds the samples of every label set, ignoring timestamps', () => {
    expect(metricValue(TEXT, 'nodejs_heap_space_size_used_bytes')).toBe(123);
  });

  it('does not take a longer name for the one asked, nor comments', () => {
    expect(metricValue(TEXT, 'nodejs_heap_size_used')).toBeUndefined();
    expect(metricValue('# TYPE x gauge\n', 'x')).toBeUndefined();
    expect(metricValue(TEXT, 'absent')).toBeUndefined();
  });
});

const GC = (minor: number[], major: number[], sums: [number, number]): string =>
  [
    '# HELP nodejs_gc_duration_seconds Garbage collection duration by kind, one of major, minor, incremental or weakcb.',
    '# TYPE nodejs_gc_duration_seconds histogram',
    ...(['0.001', '0.01', '0.1', '+Inf'] as const).map((le, i) => `nodejs_gc_duration_seconds_bucket{le="${le}",kind="minor"} ${minor[i] ?? 0}`),
    `nodejs_gc_duration_seconds_sum{kind="minor"} ${sums[0]}`,
    `nodejs_gc_duration_seconds_count{kind="minor"} ${minor.at(-1) ?? 0}`,
    ...(['0.001', '0.01', '0.1', '+Inf'] as const).map((le, i) => `nodejs_gc_duration_seconds_bucket{le="${le}",kind="major"} ${major[i] ?? 0}`),
    `nodejs_gc_duration_seconds_sum{kind="major"} ${sums[1]}`,
    `nodejs_gc_duration_seconds_count{kind="major"} ${major.at(-1) ?? 0}`,
    'nodejs_gc_duration_seconds_other 7',
    '',
  ].join('\n');

describe('parseSample', () => {
  it('reads the name, the labels (escapes too) and the value, not the timestamp', () => {
    expect(parseSample('a_b{x="1",y="q\\"}\\\\ \\n"} 2.5 1700000000000')).toEqual({ name: 'a_b', labels: { x: '1', y: 'q"}\\ \n' }, value: 2.5 });
    expect(parseSample('up 1')).toEqual({ name: 'up', labels: {}, value: 1 });
    expect(parseSample('h_bucket{le="+Inf"} +Inf')?.value).toBe(Infinity);
  });

  it('skips comments, blank lines and what does not parse', () => {
    expect(parseSample('# TYPE up gauge')).toBeUndefined();
    expect(parseSample('')).toBeUndefined();
    expect(parseSample('up{x="1} 2')).toBeUndefined();
    expect(parseSample('up nope')).toBeUndefined();
  });
});

describe('histograms', () => {
  const before = GC([1, 2, 2, 2], [0, 0, 0, 0], [0.003, 0]);
  const after = GC([50, 140, 149, 150], [0, 0, 1, 1], [0.4, 0.05]);

  it('sums the label sets, or reads the ones asked for', () => {
    expect(histogramValue(after, 'nodejs_gc_duration_seconds')).toEqual({ bounds: [0.001, 0.01, 0.1, Infinity], cumulative: [50, 140, 150, 151], sum: 0.45, count: 151 });
    expect(histogramValue(after, 'nodejs_gc_duration_seconds', { kind: 'major' })).toMatchObject({ cumulative: [0, 0, 1, 1], count: 1 });
    expect(histogramValue(after, 'nodejs_gc_duration_seconds', { kind: 'weakcb' })).toBeUndefined();
    expect(histogramValue(after, 'nodejs_gc_duration')).toBeUndefined();
  });

  it('subtracts two snapshots, and finds the bucket of a quantile', () => {
    const h0 = histogramValue(before, 'nodejs_gc_duration_seconds');
    const h1 = histogramValue(after, 'nodejs_gc_duration_seconds');
    if (h0 === undefined || h1 === undefined) throw new Error('no histogram');
    const d = histogramDelta(h0, h1);
    expect(d).toMatchObject({ cumulative: [49, 138, 148, 149], count: 149 });
    expect(d.sum).toBeCloseTo(0.447, 9);
    expect(quantileBucket(d, 0.5)).toEqual({ above: 0.001, atMost: 0.01 });
    expect(quantileBucket(d, 0.99)).toEqual({ above: 0.01, atMost: 0.1 });
    expect(quantileBucket(d, 1)).toEqual({ above: 0.1, atMost: Infinity });
    expect(quantileBucket(histogramDelta(h0, h0), 0.99)).toBeUndefined();
    expect(() => histogramDelta(h1, h0)).toThrow(/went down/);
  });

  it('rejects label sets with different buckets', () => {
    expect(() => histogramValue('h_bucket{le="1",k="a"} 1\nh_bucket{le="+Inf",k="a"} 1\nh_bucket{le="+Inf",k="b"} 1\n', 'h')).toThrow(/other buckets/);
  });
});
