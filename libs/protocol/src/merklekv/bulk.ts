/**
 * Bulk commands: MGET, MSET, EXISTS, SCAN.
 *
 * MGET, MSET and EXISTS split their arguments on Unicode white space like the reference
 * (`split_whitespace`), so MSET values cannot hold spaces. SCAN takes one literal prefix, or none.
 */
import { type CommandOf, KvError, type ResultOf } from '#commands';

import { assertFramable, NOT_FOUND, OK, textLine, textLines } from './reply-bytes.js';
import {
  hasSpace,
  hasTab,
  type ParseResult,
  type ReplyEncoders,
  requiresArguments,
  TAB_IN_PREFIX,
  textOf,
  unknownCommand,
  type WordParser,
} from './syntax.js';
import { splitWhitespace } from './text.js';

function parseMget(line: Buffer, rest: number, end: number, word: string): ParseResult {
  if (rest < 0) return unknownCommand(word);
  const keys = splitWhitespace(textOf(line, rest, end));
  if (keys.length === 0) return 'MGET command requires at least one key';
  return { name: 'MGET', keys };
}

function parseMset(line: Buffer, rest: number, end: number, word: string): ParseResult {
  if (rest < 0) return unknownCommand(word);
  const args = splitWhitespace(textOf(line, rest, end));
  if (args.length % 2 !== 0) return 'MSET command requires an even number of arguments (key-value pairs)';
  if (args.length === 0) return 'MSET command requires at least one key-value pair';
  const pairs: (readonly [string, Uint8Array])[] = [];
  for (let i = 0; i + 1 < args.length; i += 2) pairs.push([args[i]!, Buffer.from(args[i + 1]!, 'utf8')]);
  return { name: 'MSET', pairs };
}

function parseExists(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  const keys = splitWhitespace(textOf(line, rest, end));
  if (keys.length === 0) return 'EXISTS command requires at least one key';
  return { name: 'EXISTS', keys };
}

function parseScan(line: Buffer, rest: number, end: number): ParseResult {
  if (rest < 0) return { name: 'SCAN', prefix: '' };
  if (hasSpace(line, rest, end)) return 'SCAN command accepts only one argument';
  if (hasTab(line, rest, end)) return TAB_IN_PREFIX;
  return { name: 'SCAN', prefix: textOf(line, rest, end) };
}

export const bulkParsers: Readonly<Record<string, WordParser>> = {
  MGET: parseMget,
  MSET: parseMset,
  EXISTS: parseExists,
  SCAN: parseScan,
};

const CRLF_LENGTH = 2;
const NOT_FOUND_TEXT = 'NOT_FOUND';

/**
 * The largest MGET reply. One request line may name a large value thousands of times: without a
 * bound, a few kilobytes of input would make the node allocate gigabytes for a single reply.
 */
export const MAX_MGET_REPLY_BYTES = 64 * 1024 * 1024;

/**
 * `VALUES <found>` then `k v` or `k NOT_FOUND` per requested key, in request order; a bare
 * `NOT_FOUND` when nothing was found. Sized first (an error beyond {@link MAX_MGET_REPLY_BYTES}),
 * then written into one allocation.
 */
function encodeMget(command: CommandOf<'MGET'>, values: ResultOf['MGET']): Buffer {
  const { keys } = command;
  let found = 0;
  let size = 0;
  for (let i = 0; i < keys.length; i++) {
    const value = values[i];
    if (value !== undefined) found++;
    size += Buffer.byteLength(keys[i]!, 'utf8') + 1 + (value === undefined ? NOT_FOUND_TEXT.length : value.length) + CRLF_LENGTH;
  }
  if (size > MAX_MGET_REPLY_BYTES) {
    throw new KvError('TOO_LARGE', `MGET reply too large: ${size} bytes (limit ${MAX_MGET_REPLY_BYTES}); ask for fewer keys at a time`);
  }
  if (found === 0) return NOT_FOUND;
  for (const value of values) if (value !== undefined) assertFramable(value);
  const header = `VALUES ${found}\r\n`;
  const out = Buffer.allocUnsafe(header.length + size);
  let at = out.write(header, 0, 'latin1');
  for (let i = 0; i < keys.length; i++) {
    const value = values[i];
    at += out.write(keys[i]!, at, 'utf8');
    out[at++] = 0x20;
    if (value === undefined) {
      at += out.write(NOT_FOUND_TEXT, at, 'latin1');
    } else {
      out.set(value, at);
      at += value.length;
    }
    out[at++] = 0x0d;
    out[at++] = 0x0a;
  }
  return out;
}

export const bulkEncoders: ReplyEncoders<'MGET' | 'MSET' | 'EXISTS' | 'SCAN'> = {
  MGET: encodeMget,
  MSET: () => OK,
  EXISTS: (_command, count) => textLine(`EXISTS ${count}`),
  SCAN: (_command, keys) => textLines([`KEYS ${keys.length}`, ...keys]),
};
