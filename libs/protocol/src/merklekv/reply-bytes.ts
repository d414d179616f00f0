/**
 * Building blocks for reply bytes. Every reply line ends `\r\n`; a multi-line reply is one Buffer
 * so that the adapter writes it in one socket write.
 *
 * Fixed replies are shared Buffers allocated once: callers hand them to `socket.write` and must
 * never mutate a returned reply.
 */
import { KvError } from '#commands';

import { LARGE_VALUE_BYTES, type ReplyBytes } from '../session/reply-bytes.js';

const CR = 0x0d;
const LF = 0x0a;

/** One reply line from text, with its `\r\n`. */
export const textLine = (text: string): Buffer => Buffer.from(`${text}\r\n`, 'utf8');

/** Several reply lines from text, each with its `\r\n`, as one Buffer. */
export const textLines = (lines: readonly string[]): Buffer => Buffer.from(`${lines.join('\r\n')}\r\n`, 'utf8');

export const OK = textLine('OK');
export const NOT_FOUND = textLine('NOT_FOUND');
export const DELETED = textLine('DELETED');

const VALUE_PREFIX = Buffer.from('VALUE ', 'latin1');
const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * `<prefix><bytes>\r\n` in a single allocation (pooled by Node for small replies): the GET
 * hot path. `prefix` must be a Buffer of ASCII.
 */
export function prefixedLine(prefix: Buffer, bytes: Uint8Array): Buffer {
  assertFramable(bytes);
  const p = prefix.length;
  const out = Buffer.allocUnsafe(p + bytes.length + 2);
  prefix.copy(out, 0);
  out.set(bytes, p);
  out[p + bytes.length] = CR;
  out[p + bytes.length + 1] = LF;
  return out;
}

/**
 * A value holding a line feed cannot be sent on a line protocol: the client would take the rest
 * as the next reply. Such values can only come from HTTP (binary-safe); the text protocol answers
 * an error instead, and HTTP still serves them.
 */
export function assertFramable(value: Uint8Array): void {
  if (value.indexOf(LF) !== -1) {
    throw new KvError('UNREPRESENTABLE', 'value contains a line feed and cannot be sent on the text protocol; read it over HTTP');
  }
}

/**
 * Large values found to hold no line feed. Stored values never change, so each is scanned once,
 * not on every GET (the scan of a megabyte costs a third of what sending it does).
 */
const FRAMABLE = new WeakSet<Uint8Array>();

/** `VALUE <bytes>\r\n`; a large value as pieces, sent as it is stored rather than copied. */
export function valueLine(value: Uint8Array): ReplyBytes {
  if (value.length < LARGE_VALUE_BYTES) return prefixedLine(VALUE_PREFIX, value);
  if (!FRAMABLE.has(value)) {
    assertFramable(value);
    FRAMABLE.add(value);
  }
  return [VALUE_PREFIX, value, CRLF];
}
