/**
 * The memcached request decoder: a push-fed state machine from socket bytes to request events,
 * for the text protocol (classic and meta commands) and the binary protocol, told apart by the
 * connection's first byte as memcached does (0x80: binary, for the whole connection).
 *
 * Design
 * ------
 * Text: command lines end at `\n`; a storage line announces a data block of n bytes that must
 * end `\r\n`. The decoder reads exactly n + 2 bytes, and a block that does not end `\r\n` is
 * `CLIENT_ERROR bad data chunk`, after which decoding goes on with the next byte as a command
 * line: a block shorter or longer than announced costs that error (and `ERROR` for the leftover
 * line), never the connection. A refused storage line whose size is readable has its block
 * skipped, as memcached does for a value over the limit.
 *
 * Memory is bounded per connection. A command line may hold 2,048 bytes before its `\n` (a
 * longer one, like memcached, ends the connection) except a retrieval line (`get`, `gets`, `gat`,
 * `gats`: many keys), which may hold 1 MiB; past that its rest is skipped and it is refused with
 * `CLIENT_ERROR`, the connection stays. A data block is refused before it is read when it is
 * over `maxValueBytes`, and then skipped without being held. Binary bodies are held only once
 * their header says they fit (see binary.ts).
 *
 * Events depend only on the byte stream, never on how it was chunked.
 */
import {
  BINARY_HEADER_BYTES,
  BINARY_REQUEST_MAGIC,
  type BinaryHeader,
  type BinaryResult,
  parseBinary,
  readHeader,
  screenHeader,
} from './binary.js';
import { type LineLimits, type LineResult } from './line-result.js';
import { parseTextLine } from './line.js';
import { type Framing, type MemcachedFailure, type MemcachedRequest } from './request.js';
import { BAD_FORMAT } from './tokens.js';

export type MemcachedEvent =
  | { readonly kind: 'request'; readonly request: MemcachedRequest }
  /** A refused request: its reply, framed for `framing`; then, with `close`, the connection ends. */
  | { readonly kind: 'failure'; readonly failure: MemcachedFailure; readonly framing: Framing; readonly close: boolean }
  /** Input the connection cannot go on from, with no reply (a binary packet without its magic). Nothing follows. */
  | { readonly kind: 'close' };

export interface MemcachedDecoderOptions extends LineLimits {
  /** Longest command line, `\n` included (default 2048; at least 16, the bytes that tell a retrieval line). */
  readonly maxLineBytes?: number;
  /** Longest retrieval line (default 1 MiB). */
  readonly maxRetrievalLineBytes?: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;
const TEXT: Framing = { wire: 'text', noreply: false };
/** A retrieval line starts so within its first 16 bytes: decided on those alone, however the line arrives. */
const RETRIEVAL = /^ *(get|gets|gat|gats) /;
const RETRIEVAL_PREFIX_BYTES = 16;
const EMPTY = Buffer.alloc(0);
/** Held-line buffers above this size are dropped once their line is complete. */
const RETAINED_BUFFER_BYTES = 64 * 1024;

type State =
  | { readonly name: 'detect' }
  | { readonly name: 'line' }
  /** A data block: `bytes` of it are buffered in `block`. */
  | { readonly name: 'data'; readonly block: Buffer; filled: number; readonly complete: (value: Buffer) => MemcachedRequest; readonly framing: Framing }
  | { readonly name: 'swallow'; remaining: number }
  /** The rest of an overlong retrieval line, up to its `\n`. */
  | { readonly name: 'discard'; readonly failure: MemcachedFailure }
  | { readonly name: 'header' }
  | { readonly name: 'body'; readonly header: BinaryHeader }
  | { readonly name: 'closed' };

export class MemcachedDecoder {
  readonly #emit: (event: MemcachedEvent) => void;
  readonly #limits: LineLimits;
  readonly #maxLine: number;
  readonly #maxRetrievalLine: number;
  #state: State = { name: 'detect' };
  #binary = false;
  /** The unterminated line, header or body: bytes [0, #pendingLength). */
  #pending: Buffer = EMPTY;
  #pendingLength = 0;

  constructor(emit: (event: MemcachedEvent) => void, options: MemcachedDecoderOptions) {
    this.#emit = emit;
    this.#limits = { maxValueBytes: options.maxValueBytes };
    this.#maxLine = Math.max(RETRIEVAL_PREFIX_BYTES, options.maxLineBytes ?? 2048);
    this.#maxRetrievalLine = options.maxRetrievalLineBytes ?? 1024 * 1024;
  }

  /** Bytes of a request begun and not complete (1 while skipping a refused block). */
  get bufferedBytes(): number {
    const state = this.#state;
    if (state.name === 'data') return state.filled + this.#pendingLength;
    if (state.name === 'swallow' || state.name === 'discard') return Math.max(1, this.#pendingLength);
    return this.#pendingLength;
  }

  get closed(): boolean {
    return this.#state.name === 'closed';
  }

  push(chunk: Uint8Array): void {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let at = 0;
    while (at < bytes.length) {
      const state = this.#state;
      switch (state.name) {
        case 'detect':
          this.#binary = bytes[at] === BINARY_REQUEST_MAGIC;
          this.#state = this.#binary ? { name: 'header' } : { name: 'line' };
          break;
        case 'line':
          at = this.#lines(bytes, at);
          break;
        case 'data': {
          const take = Math.min(state.block.length - state.filled, bytes.length - at);
          bytes.copy(state.block, state.filled, at, at + take);
          state.filled += take;
          at += take;
          if (state.filled === state.block.length) this.#blockDone(state);
          break;
        }
        case 'swallow': {
          const take = Math.min(state.remaining, bytes.length - at);
          state.remaining -= take;
          at += take;
          if (state.remaining === 0) this.#state = this.#binary ? { name: 'header' } : { name: 'line' };
          break;
        }
        case 'discard': {
          const newline = bytes.indexOf(NEWLINE, at);
          if (newline < 0) return;
          at = newline + 1;
          this.#state = { name: 'line' };
          this.#emit({ kind: 'failure', failure: state.failure, framing: TEXT, close: false });
          break;
        }
        case 'header':
          at = this.#header(bytes, at);
          break;
        case 'body':
          at = this.#body(state.header, bytes, at);
          break;
        case 'closed':
          return;
      }
    }
  }

  /** Complete lines of bytes[at..], parsed in place; an unterminated tail is held. Returns where it stopped. */
  #lines(bytes: Buffer, at: number): number {
    while (this.#state.name === 'line' && at < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, at);
      const end = newline < 0 ? bytes.length : newline;
      const total = this.#pendingLength + (end - at);
      if (total >= this.#maxLine) {
        const head = this.#head(bytes, at, end);
        const retrieval = RETRIEVAL.test(head.toString('latin1', 0, Math.min(head.length, RETRIEVAL_PREFIX_BYTES)));
        if (!retrieval || total >= this.#maxRetrievalLine) {
          this.#pendingLength = 0;
          this.#pending = EMPTY;
          this.#overlong(head, retrieval);
          return retrieval ? at : bytes.length;
        }
      }
      if (newline < 0) {
        this.#append(bytes, at, end);
        return bytes.length;
      }
      if (this.#pendingLength > 0) {
        this.#append(bytes, at, newline);
        const line = this.#pending;
        const length = this.#pendingLength;
        this.#pendingLength = 0;
        if (line.length > RETAINED_BUFFER_BYTES) this.#pending = EMPTY;
        this.#line(line, 0, length);
      } else {
        this.#line(bytes, at, newline);
      }
      at = newline + 1;
    }
    return at;
  }

  /** The first bytes (up to 300) of the line made of the held bytes and bytes[at, end). */
  #head(bytes: Buffer, at: number, end: number): Buffer {
    const held = this.#pending.subarray(0, Math.min(this.#pendingLength, 300));
    return Buffer.concat([held, bytes.subarray(at, Math.min(end, at + 300 - held.length))]);
  }

  /**
   * A line over its limit: any but a retrieval line closes the connection; a retrieval line is
   * refused once its end is read (the decoder skips to it). memcached reads such a line key by
   * key, so a first key over 250 bytes gets its answer for that.
   */
  #overlong(head: Buffer, retrieval: boolean): void {
    if (!retrieval) {
      this.#fail({ kind: 'client', message: 'line too long' }, TEXT);
      return;
    }
    const firstKey = head.toString('latin1').trimStart().split(' ')[1] ?? '';
    this.#state = { name: 'discard', failure: { kind: 'client', message: firstKey.length > 250 ? BAD_FORMAT : 'line too long' } };
  }

  #line(line: Buffer, start: number, end: number): void {
    this.#apply(parseTextLine(line, start, end, this.#limits));
  }

  #apply(result: LineResult): void {
    switch (result.kind) {
      case 'request':
        this.#emit({ kind: 'request', request: result.request });
        return;
      case 'data':
        this.#state = { name: 'data', block: Buffer.allocUnsafe(result.bytes + 2), filled: 0, complete: result.complete, framing: result.framing };
        return;
      case 'failure':
        if (result.swallow > 0) this.#state = { name: 'swallow', remaining: result.swallow };
        this.#emit({ kind: 'failure', failure: result.failure, framing: result.framing, close: false });
        return;
    }
  }

  #blockDone(state: Extract<State, { name: 'data' }>): void {
    this.#state = { name: 'line' };
    const { block } = state;
    const end = block.length - 2;
    if (block[end] !== CR || block[end + 1] !== NEWLINE) {
      this.#emit({ kind: 'failure', failure: { kind: 'client', message: 'bad data chunk' }, framing: state.framing, close: false });
      return;
    }
    this.#emit({ kind: 'request', request: state.complete(block.subarray(0, end)) });
  }

  #header(bytes: Buffer, at: number): number {
    let source = bytes;
    let offset = at;
    if (this.#pendingLength > 0 || bytes.length - at < BINARY_HEADER_BYTES) {
      const take = Math.min(BINARY_HEADER_BYTES - this.#pendingLength, bytes.length - at);
      this.#append(bytes, at, at + take);
      if (this.#pendingLength < BINARY_HEADER_BYTES) return at + take;
      source = this.#pending;
      offset = 0;
      this.#pendingLength = 0;
      at += take;
    } else {
      at += BINARY_HEADER_BYTES;
    }
    const header = readHeader(source, offset);
    if (header.magic !== BINARY_REQUEST_MAGIC) {
      this.#close();
      this.#emit({ kind: 'close' });
      return bytes.length;
    }
    const refused = screenHeader(header, this.#limits.maxValueBytes);
    if (refused !== undefined) {
      this.#binaryResult(refused);
      return at;
    }
    if (header.bodyLength === 0) this.#binaryResult(parseBinary(header, EMPTY));
    else this.#state = { name: 'body', header };
    return at;
  }

  #body(header: BinaryHeader, bytes: Buffer, at: number): number {
    const need = header.bodyLength - this.#pendingLength;
    if (this.#pendingLength === 0 && bytes.length - at >= need) {
      this.#state = { name: 'header' };
      this.#binaryResult(parseBinary(header, bytes.subarray(at, at + need)));
      return at + need;
    }
    const take = Math.min(need, bytes.length - at);
    this.#append(bytes, at, at + take);
    if (this.#pendingLength < header.bodyLength) return at + take;
    const body = this.#pending.subarray(0, this.#pendingLength);
    this.#pendingLength = 0;
    this.#pending = EMPTY;
    this.#state = { name: 'header' };
    this.#binaryResult(parseBinary(header, body));
    return at + take;
  }

  #binaryResult(result: BinaryResult): void {
    if (result.kind === 'request') {
      this.#emit({ kind: 'request', request: result.request });
      return;
    }
    if (result.close) {
      this.#fail(result.failure, result.framing);
      return;
    }
    if (result.swallow > 0) this.#state = { name: 'swallow', remaining: result.swallow };
    this.#emit({ kind: 'failure', failure: result.failure, framing: result.framing, close: false });
  }

  #append(bytes: Buffer, from: number, to: number): void {
    const needed = this.#pendingLength + (to - from);
    if (needed > this.#pending.length) {
      const grown = Buffer.allocUnsafe(Math.max(needed, this.#pending.length * 2, 256));
      this.#pending.copy(grown, 0, 0, this.#pendingLength);
      this.#pending = grown;
    }
    bytes.copy(this.#pending, this.#pendingLength, from, to);
    this.#pendingLength = needed;
  }

  #close(): void {
    this.#state = { name: 'closed' };
    this.#pending = EMPTY;
    this.#pendingLength = 0;
  }

  #fail(failure: MemcachedFailure, framing: Framing): void {
    this.#close();
    this.#emit({ kind: 'failure', failure, framing, close: true });
  }
}
