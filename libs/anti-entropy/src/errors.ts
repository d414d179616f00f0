/**
 * The one error type of the anti-entropy library. The `code` is stable: it travels in error
 * replies between peers, and the coordinator, the SYNC command and tests branch on it, never on
 * the message.
 */
export type AntiEntropyErrorCode =
  /** Bytes that are not a valid session message: garbage, truncated, trailing bytes, a bad entry. */
  | 'DECODE'
  /** A session message of a protocol version this node does not speak. */
  | 'VERSION'
  /** A shard outside the peer's shards, or a key sent under a shard it does not belong to. */
  | 'BAD_SHARD'
  /** A key that no protocol could have stored (empty, whitespace, over the limit). */
  | 'BAD_KEY'
  /** A message, batch or value beyond the limits. */
  | 'TOO_LARGE'
  /** The peers cannot compare trees: another shard count or another MST fanout. */
  | 'MISMATCH'
  /** The peer no longer holds the tree version a request names: start a new session. */
  | 'STALE'
  /** A well-formed answer that contradicts the question (a node that does not hash to what was asked, a reply of the wrong kind or size). */
  | 'PROTOCOL'
  /** The peer does not take part in anti-entropy right now (replication disabled, stopping). */
  | 'UNAVAILABLE'
  /** The session used up its byte budget; what was repaired so far stays repaired. */
  | 'BUDGET'
  /** The session was cancelled (the peer died, the node stops). */
  | 'ABORTED'
  /** The request did not reach the peer or no answer came back in time. */
  | 'TRANSPORT';

export const ANTI_ENTROPY_ERROR_CODES: readonly AntiEntropyErrorCode[] = [
  'DECODE',
  'VERSION',
  'BAD_SHARD',
  'BAD_KEY',
  'TOO_LARGE',
  'MISMATCH',
  'STALE',
  'PROTOCOL',
  'UNAVAILABLE',
  'BUDGET',
  'ABORTED',
  'TRANSPORT',
];

export class AntiEntropyError extends Error {
  override readonly name = 'AntiEntropyError';
  /** True when the peer reported this error in an error reply (its code, its message). */
  readonly remote: boolean;

  constructor(
    readonly code: AntiEntropyErrorCode,
    message: string,
    options?: { cause?: unknown; remote?: boolean },
  ) {
    super(message, options);
    this.remote = options?.remote ?? false;
  }
}

export const isAntiEntropyError = (err: unknown, code?: AntiEntropyErrorCode): err is AntiEntropyError =>
  err instanceof AntiEntropyError && (code === undefined || err.code === code);
