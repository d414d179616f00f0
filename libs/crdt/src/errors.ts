import { type Hlc } from './hlc.js';

/**
 * Stable codes of the CRDT layer. Adapters map them to their protocol:
 * - `NOT_A_NUMBER`: INC/DEC on a register whose bytes are not a signed 64-bit decimal.
 * - `OVERFLOW`: an INC/DEC whose result leaves [-2^63, 2^63-1] (or a per-node total over 2^128-1).
 * - `WRONG_TYPE`: a counter operation on a set, or a set operation on a register or counter.
 * - `CORRUPT`: bytes that are not a valid encoding (decodeEntry, decodeHlc).
 */
export type CrdtErrorCode = 'NOT_A_NUMBER' | 'OVERFLOW' | 'WRONG_TYPE' | 'CORRUPT';

export class CrdtError extends Error {
  override readonly name = 'CrdtError';
  constructor(
    readonly code: CrdtErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isCrdtError = (err: unknown): err is CrdtError => err instanceof CrdtError;

/** A remote timestamp too far ahead of the local wall clock: the change is refused, not merged. */
export class ClockDriftError extends Error {
  override readonly name = 'ClockDriftError';
  constructor(
    /** The refused remote timestamp. */
    readonly remote: Hlc,
    /** The local wall clock (ms) when it was refused. */
    readonly localWall: number,
    /** The tolerance in force. */
    readonly maxDriftMs: number,
  ) {
    super(
      `remote clock ${remote.wall}.${remote.logical} is ${remote.wall - localWall} ms ahead of local wall clock ${localWall} (limit ${maxDriftMs} ms)`,
    );
  }
}
