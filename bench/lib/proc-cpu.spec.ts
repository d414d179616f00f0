import { cpuBetween, cpuMicrosPerOp, cpuPerOperation, cpuSum, measureProcessesCpu, measureThreadsCpu, parseProcStat, parseProcStatName, processCpuSeconds, threadPart, threadsCpuSeconds } from './proc-cpu.js';

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

describe('threads of a process', () => {
  it('reads a thread\'s name, parentheses and spaces included', () => {
    expect(parseProcStatName('42 (rocksdb:low) S 1 42 42 0 -1 4194304 100 0 0 0 10 5 0 0 20 0 1 0 1 1 1')).toBe('rocksdb:low');
    expect(parseProcStatName('42 (my (odd) name) S 1')).toBe('my (odd) name');
    expect(parseProcStatName('garbage')).toBeUndefined();
  });

  it("counts the thread whose id is the pid as the event loop, RocksDB's by name, the rest as other", () => {
    expect(threadPart(100, 100, 'node')).toBe('event_loop');
    expect(threadPart(100, 101, 'rocksdb:high')).toBe('rocksdb');
    expect(threadPart(100, 102, 'node')).toBe('other');
    expect(threadPart(100, 103, 'V8 DefaultWorke')).toBe('other');
  });

  it('splits this process so that the parts add up to its total, and nothing for a pid that does not exist', () => {
    expect(threadsCpuSeconds(2 ** 30)).toBeUndefined();
    if (process.platform !== 'linux') return;
    const cpu = threadsCpuSeconds(process.pid)!;
    expect(cpu.event_loop).toBeGreaterThanOrEqual(0);
    expect(cpu.rocksdb).toBeGreaterThanOrEqual(0); // a store another spec opened in this worker has RocksDB's threads here
    expect(cpu.event_loop + cpu.rocksdb + cpu.other).toBeCloseTo(cpu.total, 1);
  });

  it('measures what a process used since it started measuring, and nothing for a pid that does not exist', () => {
    expect(measureThreadsCpu(2 ** 30)()).toBeUndefined();
    if (process.platform !== 'linux') return;
    const since = measureThreadsCpu(process.pid);
    // Busy for 60 ms of CPU (not of wall time, which a loaded machine may spend elsewhere): several of /proc's 10 ms ticks.
    const start = process.cpuUsage();
    while (process.cpuUsage(start).user < 60_000);
    expect(since()!.event_loop).toBeGreaterThan(0);
  });

  it('gives what periods used, in microseconds per operation', () => {
    const used = cpuBetween({ total: 1, event_loop: 0.5, rocksdb: 0.2, other: 0.3 }, { total: 3, event_loop: 1.7, rocksdb: 0.4, other: 0.9 });
    expect(cpuMicrosPerOp(used, 40_000)).toEqual({ total: 50, event_loop: 30, rocksdb: 5, other: 15 });
    expect(cpuMicrosPerOp(cpuSum([used, used]), 40_000)).toEqual({ total: 100, event_loop: 60, rocksdb: 10, other: 30 });
    expect(cpuPerOperation([used, used], 40_000, true)).toEqual({ total: 100, event_loop: 60, rocksdb: 10, other: 30 });
    expect(cpuPerOperation([used, used], 40_000, false)).toEqual({ total: 100 });
    expect(cpuPerOperation([used, undefined], 40_000, true)).toBeUndefined();
  });
});
