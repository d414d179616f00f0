export type StoreErrorCode =
  /** A read or write of the storage engine failed. */
  | 'STORAGE'
  | 'CLOSED'
  | 'SHARD_COUNT'
  | 'FORMAT'
  /** The data directory could not be opened; the message names the cause and what to do. */
  | 'OPEN'
  /** A backup stream or file that is malformed or incomplete. */
  | 'BACKUP'
  /** A directory that holds no store (verify, restore). */
  | 'NOT_A_STORE';

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * What an operator can do about the usual reasons RocksDB refuses a directory, recognised in its
 * status message (the binding gives no codes for them).
 */
const OPEN_FAILURES: readonly { readonly pattern: RegExp; readonly advice: string }[] = [
  {
    pattern: /no space left on device/i,
    advice: 'the disk is full: free space on it (opening replays the write-ahead log, which needs room for its flush) and start again',
  },
  { pattern: /read-only file system/i, advice: 'the file system is mounted read-only: remount it read-write or choose another data_dir' },
  {
    pattern: /lock hold|no locks available|resource temporarily unavailable.*LOCK|LOCK: .*(busy|unavailable)/i,
    advice: 'another process (or another node in this one) holds the directory: stop it, or give this node its own data_dir',
  },
  { pattern: /permission denied|operation not permitted/i, advice: 'the node may not write there: fix the directory\'s owner or permissions, or choose another data_dir' },
  { pattern: /too many open files/i, advice: 'the process ran out of file descriptors: raise its limit (ulimit -n) and start again' },
  {
    pattern: /corrupt|checksum mismatch|bad magic|truncated/i,
    advice:
      'the directory is damaged: restore it from a backup, or move it aside and start on an empty one (in a cluster, anti-entropy refills it from the peers)',
  },
  { pattern: /not a directory|file already exists|EEXIST|ENOTDIR/i, advice: 'data_dir names something that is not a directory: choose another path' },
];

/** An engine's refusal to open `location`, as one line that names the cause and what to do. */
export function openFailure(location: string, err: unknown): StoreError {
  const detail = describeCause(err);
  const known = OPEN_FAILURES.find(({ pattern }) => pattern.test(detail));
  const advice = known?.advice ?? 'see the storage engine\'s message';
  return new StoreError('OPEN', `cannot open the data directory ${location}: ${advice} (RocksDB: ${detail})`, { cause: err });
}

/** The innermost message of an error chain, on one line: the binding wraps RocksDB's status in a generic error. */
export function describeCause(err: unknown): string {
  let message = err instanceof Error ? err.message : String(err);
  let at: unknown = err;
  while (at instanceof Error && at.cause !== undefined) {
    at = at.cause;
    message = at instanceof Error ? at.message : String(at);
  }
  return message.replace(/\s+/g, ' ').trim();
}
