/**
 * Lexing shared by the classic and meta text commands: tokens split on spaces as memcached's
 * tokenizer does (only 0x20 separates; a tab is part of a token), keys checked against
 * memcached's rules plus ours (UTF-8, no control characters), numbers parsed as memcached's
 * `safe_strto*` accept them.
 */
import { isUtf8 } from 'node:buffer';

import { MEMCACHED_MAX_KEY_BYTES } from './request.js';

const SPACE = 0x20;

/** Token boundaries of line[start, end): [start0, end0, start1, end1, ...]. */
export function tokenize(line: Buffer, start: number, end: number): number[] {
  const bounds: number[] = [];
  let at = start;
  while (at < end) {
    while (at < end && line[at] === SPACE) at++;
    if (at === end) break;
    const from = at;
    while (at < end && line[at] !== SPACE) at++;
    bounds.push(from, at);
  }
  return bounds;
}

export const BAD_FORMAT = 'bad command line format';

/**
 * Marks a key whose bytes are not UTF-8 (memcached keys are bytes; ours are text): NUL, which no
 * memcached key holds, then the bytes as Latin-1 characters. So every memcached key has its own
 * name, and a UTF-8 key keeps its text, as the other protocols see it.
 */
const RAW_KEY = '\u0000';

/**
 * The key line[start, end) as a string, or undefined when memcached would refuse it (over 250
 * bytes, empty) or the other protocols could not carry it: NUL, or white space (tab, line and
 * page breaks, which no MerkleKV line or URL segment keeps). Other control characters pass, as in
 * memcached: load generators such as memaslap put them, and bytes that are not UTF-8, in keys.
 */
export function keyOf(line: Uint8Array, start: number, end: number): string | undefined {
  if (end - start > MEMCACHED_MAX_KEY_BYTES || end === start) return undefined;
  let ascii = true;
  for (let i = start; i < end; i++) {
    const c = line[i]!;
    if (c === 0x00 || c === 0x20 || (c >= 0x09 && c <= 0x0d)) return undefined;
    if (c >= 0x80) ascii = false;
  }
  const buf = Buffer.from(line.buffer, line.byteOffset + start, end - start);
  if (ascii) return buf.toString('latin1');
  return isUtf8(buf) ? buf.toString('utf8') : RAW_KEY + buf.toString('latin1');
}

/** The bytes of a key as memcached clients know it: the inverse of {@link keyOf}. */
export function keyBytes(key: string): Buffer {
  return key.startsWith(RAW_KEY) ? Buffer.from(key.slice(1), 'latin1') : Buffer.from(key, 'utf8');
}

const DIGITS = /^[0-9]+$/;
const SIGNED = /^-?[0-9]+$/;
const U32_MAX = 0xffff_ffffn;
const U64_MAX = 0xffff_ffff_ffff_ffffn;
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/** Unsigned decimal within `max`, or undefined. */
function unsigned(text: string, max: bigint): bigint | undefined {
  if (!DIGITS.test(text)) return undefined;
  const n = BigInt(text);
  return n > max ? undefined : n;
}

export const parseU32 = (text: string): number | undefined => {
  const n = unsigned(text, U32_MAX);
  return n === undefined ? undefined : Number(n);
};

export const parseU64 = (text: string): bigint | undefined => unsigned(text, U64_MAX);

/** A signed 32-bit decimal (exptime), or undefined. */
export function parseI32(text: string): number | undefined {
  if (!SIGNED.test(text)) return undefined;
  const n = Number(text);
  return n < I32_MIN || n > I32_MAX ? undefined : n;
}

export const tokenText = (line: Buffer, bounds: readonly number[], index: number): string => line.toString('latin1', bounds[2 * index], bounds[2 * index + 1]);
