/**
 * The MerkleKV request decoder: a push-fed state machine from socket bytes to request events.
 *
 * Design
 * ------
 * Requests are lines ending at `\n`. Bytes arrive in chunks cut anywhere (inside a line, inside a
 * UTF-8 character, between `\r` and `\n`), and one chunk often carries many pipelined lines. The
 * decoder emits, in input order, one event per line through a callback given at construction, so a
 * server handles pipelined requests synchronously with no intermediate arrays or promises.
 *
 * Complete lines are parsed in place from the chunk, without copying; only the unterminated tail
 * of a chunk is copied into the decoder's own buffer, which completes it on a later push. That
 * buffer never holds more than `maxLineBytes - 1` bytes: as soon as the pending line reaches the
 * limit without its `\n`, the line is rejected (`tooLong`) and the decoder stops. A large buffer is
 * released once its line is done, so idle connections keep little memory.
 *
 * UTF-8 is checked per line, never per chunk, so a chunk boundary inside a character is harmless.
 * In the common case a whole run of complete lines is checked with one native `isUtf8` call: a
 * `\n` byte never sits inside a multi-byte character, so the run is valid exactly when every line
 * in it is; only when the run is invalid are its lines checked one by one to find the first bad one.
 *
 * Events depend only on the byte stream, never on how it was chunked. After `tooLong` or
 * `invalidUtf8` (both end the connection) the decoder emits nothing more and ignores input.
 * An unterminated line at the end of the stream is never emitted.
 */
import { isUtf8 } from 'node:buffer';

import { type Command } from '#commands';

import { parseMerkleKvLine } from './parse.js';

/** The reference limit: a request line of more than this many bytes, its `\n` included, is refused. */
export const MERKLEKV_MAX_LINE_BYTES = 1_048_576;

export type MerkleKvEvent =
  /** A request to execute; its reply follows the replies to earlier events. */
  | { readonly kind: 'command'; readonly command: Command }
  /** A malformed request: reply `ERROR <message>` and keep the connection. */
  | { readonly kind: 'error'; readonly message: string }
  /** A line over the limit: reply `ERROR line too long`, then close. Nothing follows. */
  | { readonly kind: 'tooLong' }
  /** A line that is not UTF-8: close without a reply. Nothing follows. */
  | { readonly kind: 'invalidUtf8' };

export interface MerkleKvDecoderOptions {
  /** Longest accepted line in bytes, `\n` included. Default {@link MERKLEKV_MAX_LINE_BYTES}. */
  readonly maxLineBytes?: number;
}

const NEWLINE = 0x0a;
const TOO_LONG: MerkleKvEvent = Object.freeze({ kind: 'tooLong' });
const INVALID_UTF8: MerkleKvEvent = Object.freeze({ kind: 'invalidUtf8' });
const EMPTY = Buffer.alloc(0);
/** Pending-line buffers above this size are dropped once their line is complete. */
const RETAINED_BUFFER_BYTES = 64 * 1024;
const INITIAL_BUFFER_BYTES = 1024;

export class MerkleKvDecoder {
  readonly #emit: (event: MerkleKvEvent) => void;
  readonly #maxLineBytes: number;
  /** Holds the unterminated line: bytes [0, #pendingLength). */
  #pending: Buffer = EMPTY;
  #pendingLength = 0;
  #closed = false;

  /**
   * @param emit receives every event synchronously, in input order, from inside {@link push}. It
   *   may call {@link close} to drop the rest of the input; it must not call {@link push}.
   */
  constructor(emit: (event: MerkleKvEvent) => void, options: MerkleKvDecoderOptions = {}) {
    this.#emit = emit;
    this.#maxLineBytes = options.maxLineBytes ?? MERKLEKV_MAX_LINE_BYTES;
    if (!Number.isSafeInteger(this.#maxLineBytes) || this.#maxLineBytes < 1) {
      throw new RangeError(`maxLineBytes must be a positive integer, got ${this.#maxLineBytes}`);
    }
  }

  /** Bytes held for the current unterminated line: always below `maxLineBytes`. */
  get bufferedBytes(): number {
    return this.#pendingLength;
  }

  /** Bytes of memory the decoder holds for pending input: never more than `maxLineBytes`. */
  get retainedBytes(): number {
    return this.#pending.length;
  }

  /** True after `tooLong`, `invalidUtf8` or {@link close}: input is ignored from then on. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Stops decoding (e.g. the connection is closing) and releases the buffer. */
  close(): void {
    this.#closed = true;
    this.#pending = EMPTY;
    this.#pendingLength = 0;
  }

  /** Feeds the next bytes of the stream. The chunk is not retained after the call returns. */
  push(chunk: Uint8Array): void {
    if (this.#closed || chunk.length === 0) return;
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let at = 0;

    if (this.#pendingLength > 0) {
      const newline = bytes.indexOf(NEWLINE);
      if (newline < 0) {
        this.#hold(bytes, 0);
        return;
      }
      if (this.#pendingLength + newline + 1 > this.#maxLineBytes) return this.#fail(TOO_LONG);
      this.#append(bytes, 0, newline);
      const line = this.#pending;
      const length = this.#pendingLength;
      this.#pendingLength = 0;
      this.#line(line, 0, length, false);
      if (line.length > RETAINED_BUFFER_BYTES && this.#pending === line) this.#pending = EMPTY;
      if (this.#closed) return;
      at = newline + 1;
    }

    const last = bytes.lastIndexOf(NEWLINE);
    if (last >= at) {
      const allValid = isUtf8(bytes.subarray(at, last));
      while (at <= last) {
        const newline = bytes.indexOf(NEWLINE, at);
        if (newline - at + 1 > this.#maxLineBytes) return this.#fail(TOO_LONG);
        this.#line(bytes, at, newline, allValid);
        if (this.#closed) return;
        at = newline + 1;
      }
    }
    if (at < bytes.length) this.#hold(bytes, at);
  }

  /** Decodes line[start, end) (the bytes before its `\n`) into one event. */
  #line(line: Buffer, start: number, end: number, knownValid: boolean): void {
    if (!knownValid && !isUtf8(line.subarray(start, end))) return this.#fail(INVALID_UTF8);
    const parsed = parseMerkleKvLine(line, start, end);
    this.#emit(typeof parsed === 'string' ? { kind: 'error', message: parsed } : { kind: 'command', command: parsed });
  }

  /** Keeps bytes[from..] as (the continuation of) the unterminated line, within the limit. */
  #hold(bytes: Buffer, from: number): void {
    // Without its `\n` yet, a line of maxLineBytes bytes would already be one byte too long.
    if (this.#pendingLength + (bytes.length - from) >= this.#maxLineBytes) return this.#fail(TOO_LONG);
    this.#append(bytes, from, bytes.length);
  }

  #append(bytes: Buffer, from: number, to: number): void {
    const needed = this.#pendingLength + (to - from);
    if (needed > this.#pending.length) {
      const capacity = Math.min(Math.max(needed, this.#pending.length * 2, INITIAL_BUFFER_BYTES), this.#maxLineBytes);
      const grown = Buffer.allocUnsafeSlow(capacity);
      this.#pending.copy(grown, 0, 0, this.#pendingLength);
      this.#pending = grown;
    }
    bytes.copy(this.#pending, this.#pendingLength, from, to);
    this.#pendingLength = needed;
  }

  #fail(event: MerkleKvEvent): void {
    this.close();
    this.#emit(event);
  }
}
