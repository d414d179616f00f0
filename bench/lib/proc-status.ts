/**
 * Memory and disk writes of other processes (the servers a benchmark started), from Linux's
 * /proc/<pid>/status and /proc/<pid>/io, and the bytes a directory tree holds. Elsewhere (no
 * /proc) every process reading is undefined and callers report nothing.
 *
 * /proc/<pid>/io sums every thread of the process, so RocksDB's background flushes and
 * compactions count. `write_bytes` is charged when a page is dirtied, not when the kernel
 * writes it back, so it covers what is still in the page cache; `cancelled_write_bytes` is what
 * truncating or deleting files spared the disk again.
 */
import { readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Resident set size in bytes from the text of /proc/<pid>/status (`VmRSS: 1234 kB`), or undefined. */
export function parseVmRss(text: string): number | undefined {
  const match = /^VmRSS:\s+(\d+)\s+kB\s*$/m.exec(text);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1024;
}

export interface ProcessIo {
  /** Bytes passed to write-like system calls (sockets and pipes included). */
  readonly wchar: number;
  /** Bytes the process caused to be written to storage. */
  readonly writeBytes: number;
  /** Bytes of `writeBytes` that never reached storage because their file was truncated or deleted. */
  readonly cancelledWriteBytes: number;
  /** Bytes the process caused to be read from storage. */
  readonly readBytes: number;
}

/** The counters of /proc/<pid>/io, or undefined when one is missing. */
export function parseProcIo(text: string): ProcessIo | undefined {
  const fields = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^(\w+):\s+(\d+)\s*$/.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) fields.set(match[1], Number(match[2]));
  }
  const wchar = fields.get('wchar');
  const writeBytes = fields.get('write_bytes');
  const cancelledWriteBytes = fields.get('cancelled_write_bytes');
  const readBytes = fields.get('read_bytes');
  if (wchar === undefined || writeBytes === undefined || cancelledWriteBytes === undefined || readBytes === undefined) return undefined;
  return { wchar, writeBytes, cancelledWriteBytes, readBytes };
}

/** A process's resident set size in bytes, or undefined (no /proc, or the process is gone). */
export function processRssBytes(pid: number): number | undefined {
  try {
    return parseVmRss(readFileSync(`/proc/${pid}/status`, 'latin1'));
  } catch {
    return undefined;
  }
}

/** A process's I/O counters, or undefined (no /proc, the process is gone, or not ours to read). */
export function processIo(pid: number): ProcessIo | undefined {
  try {
    return parseProcIo(readFileSync(`/proc/${pid}/io`, 'latin1'));
  } catch {
    return undefined;
  }
}

/**
 * The sizes of every regular file under `dir`, added up (what `du --apparent-size -b` says):
 * symbolic links are not followed, and a file that vanishes while it is walked (a compaction
 * deleting its inputs) is skipped.
 */
export async function directoryBytes(dir: string): Promise<number> {
  let total = 0;
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      total += await directoryBytes(path);
    } else if (entry.isFile()) {
      try {
        total += (await lstat(path)).size;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
  }
  return total;
}
