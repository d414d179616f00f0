import { metricValue } from './prometheus.js';

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
