/**
 * Reply bytes as a session writes them: one Buffer, or pieces that go out in order in one
 * vectored write. Pieces let a large stored value go to the socket as it is held, beside its
 * framing: copying it into a fresh Buffer with its header costs a megabyte-sized allocation,
 * copy and garbage collection per reply, which for a client pipelining GETs of large values was
 * most of what a node did, and made every other connection wait.
 *
 * The pieces are never mutated, and neither are the values they point at (stored values are
 * immutable: every write makes a new one).
 */
export type ReplyBytes = Buffer | readonly Uint8Array[];

/**
 * Values at least this long are written as they lie rather than copied into one Buffer with
 * their framing: below it, one small copy costs less than the extra pieces of a vectored write.
 */
export const LARGE_VALUE_BYTES = 64 * 1024;

/** The framing and values of one reply, in order: one Buffer when all are small, else the pieces. */
export function framed(parts: readonly Uint8Array[]): ReplyBytes {
  let length = 0;
  let large = false;
  for (const part of parts) {
    length += part.length;
    if (part.length >= LARGE_VALUE_BYTES) large = true;
  }
  return large ? parts : Buffer.concat(parts, length);
}

export function replyLength(reply: ReplyBytes): number {
  if (reply instanceof Uint8Array) return reply.length;
  let length = 0;
  for (const piece of reply) length += piece.length;
  return length;
}

/** The reply as pieces (a Buffer is one). */
export const replyPieces = (reply: ReplyBytes): readonly Uint8Array[] => (reply instanceof Uint8Array ? [reply] : reply);

/** The reply as one Buffer (copies pieces; for tests and rare replies, not the hot path). */
export const replyBuffer = (reply: ReplyBytes): Buffer => (reply instanceof Uint8Array ? reply : Buffer.concat(reply));
