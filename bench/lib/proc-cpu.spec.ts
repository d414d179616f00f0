import { measureProcessesCpu, parseProcStat, processCpuSeconds } from './proc-cpu.js';

describe('parseProcStat', () => {
  it('adds utime and stime, in seconds', () => {
    const line = '9772 (cat) R 9770 9770 2260 0 -1 4194304 100 0 0 0 250 37 0 0 20 0 1 0 528928 3133440 405';
    expect(parseProcStat(line)).toBeCloseTo(2.87);
  });

  it('copes with spaces and parentheses in the command name', () => {
    const line = '42 (my (odd) name) S 1 42 42 0 -1 4194304 100 0 0 0 10 5 0 0 20 0 1 0 1 1 1';
    expect(parseProcStat(line)).toBeCloseTo(0.15);
  });

  it('refuses malformed text', () => {
    expect(parseProcStat('garbage')).toBeUndefined();
    expect(parseProcStat('1 (x) S 1 2')).toBeUndefined();
  });
});

describe('processCpuSeconds', () => {
  it('reads this process on Linux and nothing for a pid that does not exist', () => {
    if (process.platform === 'linux') expect(processCpuSeconds(process.pid)).toBeGreaterThanOrEqual(0);
    expect(processCpuSeconds(2 ** 30)).toBeUndefined();
    const done = measureProcessesCpu({ gone: 2 ** 30 });
    expect(done()).toEqual({});
  });
});
