/**
 * CPU time of other processes (the servers a benchmark started), from Linux's /proc/<pid>/stat,
 * so that a benchmark can say which process was busy when a figure looks bad. Elsewhere (no
 * /proc) every reading is undefined and callers report nothing.
 *
 * utime and stime are fields 14 and 15, counted in clock ticks of USER_HZ, which is 100 on every
 * Linux architecture Node runs on (sysconf(_SC_CLK_TCK) is not reachable from Node).
 */
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

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
