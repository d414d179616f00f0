/**
 * The one error type of the replication library. The `code` is stable: the replicator module,
 * health checks and tests branch on it, never on the message.
 */
export type ReplicationErrorCode =
  /** Bytes from NATS (a change, an announcement) are not a valid message: garbage, truncated,
   * a format version we do not know, trailing bytes, a field out of range. Never retried. */
  | 'BAD_MESSAGE'
  /** A local change record that cannot be encoded (shard out of range, key not well-formed UTF-16). */
  | 'BAD_RECORD'
  /** A caller passed an option the library does not accept (bad cluster name, window 0, ...). */
  | 'BAD_OPTIONS'
  /** NATS or JetStream did not answer (disconnected, timeout, no responders, no JetStream). */
  | 'NATS_UNAVAILABLE'
  /** JetStream refused a stream or consumer definition (e.g. the stream exists with another storage type). */
  | 'STREAM_CONFLICT'
  /** The component was stopped. */
  | 'STOPPED';

export class ReplicationError extends Error {
  override readonly name = 'ReplicationError';
  constructor(
    readonly code: ReplicationErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isReplicationError = (err: unknown, code?: ReplicationErrorCode): err is ReplicationError =>
  err instanceof ReplicationError && (code === undefined || err.code === code);

/** The message of anything thrown, for stats and log fields. */
export function describeError(err: unknown): string {
  if (err instanceof Error) return err.message === '' ? err.name : `${err.name}: ${err.message}`;
  return String(err);
}
