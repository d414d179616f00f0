/**
 * The one error type of the MST library. The `code` is stable: adapters and the anti-entropy
 * coordinator branch on it, never on the message.
 */
export type MstErrorCode =
  /** A caller passed something the API does not accept (wrong digest size, unsorted bulk input, bad fanout). */
  | 'INVALID_ARGUMENT'
  /** Bytes from the network (a request, a response, a proof) are malformed or exceed a limit. */
  | 'DECODE'
  /** A peer's answer is well formed but inconsistent: wrong hash, key outside its range, wrong layer. */
  | 'PROTOCOL'
  /** The peer no longer holds the tree version the session descends: restart the session. */
  | 'STALE'
  /** A session was used out of order (a result asked before the descent finished, an unknown request). */
  | 'STATE'
  /** A persisted tree's node is missing from storage or does not hash to what its parent says. */
  | 'CORRUPT';

export class MstError extends Error {
  override readonly name = 'MstError';
  constructor(
    readonly code: MstErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isMstError = (err: unknown): err is MstError => err instanceof MstError;
