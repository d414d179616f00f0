/**
 * CPU time of other processes (the servers a benchmark started), from Linux's /proc/<pid>/stat,
 * so that a benchmark can say which process was busy when a figure looks bad. Elsewhere (no
 * /proc) every reading is undefined and callers report nothing.
 *
 * utime and stime are fields 14 and 15, counted in clock ticks of USER_HZ, which is 100 on every
 * Linux architecture Node runs on (sysconf(_SC_CLK_TCK) is not reachable from Node).
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

/** The command name (field 2) of the text of /proc/<pid>/stat: a thread's name in /proc/<pid>/task/<tid>/stat. */
export function parseProcStatName(text: string): string | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  return open === -1 || close < open ? undefined : text.slice(open + 1, close);
}

/** User + system CPU seconds from the text of /proc/<pid>/stat, or undefined if it is malformed. */
export function parseProcStat(text: string): number | undefined {
  // The command name (field 2) is in parentheses and may itself hold spaces and parentheses.
  const close = text.lastIndexOf(')');
  if (close === -1) return undefined;
  const fields = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // fields[0] is field 3 (state): utime is field 14, stime field 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / TICKS_PER_SECOND;
}

/** CPU seconds a process has used so far, or undefined (no /proc, or the process is gone). */
export function processCpuSeconds(pid: number): number | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * Starts measuring the CPU of some processes; the returned function gives, per name, the cores
 * each used on average since (rounded to 0.01), leaving out processes it could not read.
 */
export function measureProcessesCpu(pids: Readonly<Record<string, number>>): () => Record<string, number> {
  const started = performance.now();
  const before = Object.entries(pids).map(([name, pid]) => ({ name, pid, cpu: processCpuSeconds(pid) }));
  return () => {
    const seconds = (performance.now() - started) / 1000;
    const result: Record<string, number> = {};
    for (const { name, pid, cpu } of before) {
      const after = processCpuSeconds(pid);
      if (cpu === undefined || after === undefined || seconds <= 0) continue;
      result[name] = Math.round(((after - cpu) / seconds) * 100) / 100;
    }
    return result;
  };
}

/**
 * A node's CPU seconds by what ran them: its event loop (the thread whose id is the pid),
 * RocksDB's background threads (flushes and compactions, named `rocksdb:*`) and the rest (the
 * storage write thread, V8's collector helpers, libuv's pool, threads that ended: the process's
 * total less the other two).
 */
export interface ThreadsCpu {
  readonly total: number;
  readonly event_loop: number;
  readonly rocksdb: number;
  readonly other: number;
}

/** Which part of {@link ThreadsCpu} a thread's CPU counts in. */
export function threadPart(pid: number, tid: number, name: string): 'event_loop' | 'rocksdb' | 'other' {
  if (tid === pid) return 'event_loop';
  return name.startsWith('rocksdb:') ? 'rocksdb' : 'other';
}

/** A process's CPU seconds so far, split by {@link threadPart}; undefined without /proc or once it is gone. */
export function threadsCpuSeconds(pid: number): ThreadsCpu | undefined {
  const total = processCpuSeconds(pid);
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return undefined;
  }
  if (total === undefined) return undefined;
  const parts = { event_loop: 0, rocksdb: 0 };
  for (const tid of tids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch {
      continue; // the thread ended meanwhile: the process's total keeps its time
    }
    const seconds = parseProcStat(text);
    const part = threadPart(pid, Number(tid), parseProcStatName(text) ?? '');
    if (seconds !== undefined && part !== 'other') parts[part] += seconds;
  }
  return { total, ...parts, other: Math.max(0, total - parts.event_loop - parts.rocksdb) };
}

const PARTS = ['total', 'event_loop', 'rocksdb', 'other'] as const;
const byPart = (value: (part: keyof ThreadsCpu) => number): ThreadsCpu =>
  Object.fromEntries(PARTS.map((part) => [part, value(part)])) as unknown as ThreadsCpu;

/** What was used between two readings. */
export const cpuBetween = (before: ThreadsCpu, after: ThreadsCpu): ThreadsCpu => byPart((part) => after[part] - before[part]);

/**
 * Starts measuring a process's CPU by thread (as {@link measureProcessesCpu} does a process's);
 * the returned function gives what it used since, or undefined when either reading failed.
 */
export function measureThreadsCpu(pid: number): () => ThreadsCpu | undefined {
  const before = threadsCpuSeconds(pid);
  return () => {
    const after = threadsCpuSeconds(pid);
    return before && after && cpuBetween(before, after);
  };
}

/** Several periods' use as one. */
export const cpuSum = (periods: readonly ThreadsCpu[]): ThreadsCpu => byPart((part) => periods.reduce((sum, used) => sum + used[part], 0));

/** Microseconds per operation (rounded) of what `ops` operations used. */
export const cpuMicrosPerOp = (used: ThreadsCpu, ops: number): ThreadsCpu => byPart((part) => Math.round((used[part] * 1e6) / ops));

/** CPU per operation as the benches report it: by thread, or the total alone. */
export type CpuPerOp = ThreadsCpu | { readonly total: number };

/**
 * What a server used per operation over several runs, in microseconds: split by thread, or the
 * total alone (for a server whose threads' names say nothing of their work, like memcached);
 * undefined when a run has no reading.
 */
export function cpuPerOperation(runs: readonly (ThreadsCpu | undefined)[], ops: number, split: boolean): CpuPerOp | undefined {
  if (!runs.every((used) => used !== undefined)) return undefined;
  const perOp = cpuMicrosPerOp(cpuSum(runs), ops);
  return split ? perOp : { total: perOp.total };
}
