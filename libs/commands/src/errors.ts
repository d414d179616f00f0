/**
 * Domain errors with stable codes. The core throws only these; each adapter maps the code to
 * its protocol (`ERROR <message>` on the MerkleKV text protocol, an HTTP status plus
 * `{ error: { code, message } }` on HTTP, `CLIENT_ERROR`/`SERVER_ERROR` on memcached).
 * The message is the exact text the MerkleKV protocol prints after `ERROR `.
 */
export type KvErrorCode =
  /** The request could not be parsed (wrong arity, unknown command, bad key). */
  | 'BAD_REQUEST'
  /** The key does not exist (adapters whose protocol signals absence as an error, e.g. HTTP 404). */
  | 'NOT_FOUND'
  /** INC/DEC on a value that is not a decimal 64-bit integer. */
  | 'NOT_A_NUMBER'
  /** An INC/DEC result outside the signed 64-bit range. */
  | 'OVERFLOW'
  /** A key or value larger than the configured limits. */
  | 'TOO_LARGE'
  /** The command needs a part of the system this node does not run (e.g. SYNC with no cluster). */
  | 'UNAVAILABLE'
  /** The node is shutting down and takes no new writes. */
  | 'SHUTTING_DOWN'
  /** A result the client's protocol cannot carry (a line feed in a value, on a line protocol). */
  | 'UNREPRESENTABLE'
  /** The storage engine failed; the write was not applied. */
  | 'STORAGE'
  /** The node refuses new work for now (memory pressure); nothing was applied; retry later. */
  | 'OVERLOADED'
  /** The client has not signed in (or AUTH failed): AUTH first, or HTTP credentials. */
  | 'UNAUTHENTICATED'
  /** The signed-in user may not do this (a key outside its prefixes, an admin command). */
  | 'FORBIDDEN';

export class KvError extends Error {
  override readonly name = 'KvError';
  constructor(
    readonly code: KvErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isKvError = (err: unknown): err is KvError => err instanceof KvError;
