/**
 * Text helpers that reproduce the Rust standard library calls the reference server parses with
 * (`str::trim`, `str::split_whitespace`, `i64::from_str`, `u16::from_str`), so that edge cases
 * (a non-breaking space, `+5`, `-0`) behave byte for byte like the reference.
 *
 * Rust's whitespace is the Unicode White_Space property: U+0009–U+000D, U+0020, U+0085, U+00A0,
 * U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000. JavaScript's `\s` and
 * `String.prototype.trim` differ (they add U+FEFF and miss U+0085), so neither is used here.
 */

const WHITE_SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WHITE_SPACE_RUN = new RegExp(`[${WHITE_SPACE}]+`);

/** Rust's `str::split_whitespace`: tokens separated by runs of Unicode white space, no empty tokens. */
export function splitWhitespace(text: string): string[] {
  const parts = text.split(WHITE_SPACE_RUN);
  // Only the first and last pieces can be empty (leading/trailing white space).
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  if (parts.length > 0 && parts[0] === '') parts.shift();
  return parts;
}

/**
 * Length of the UTF-8 encoded white-space character starting at `i`, or 0. The bytes are known to
 * be valid UTF-8, so a lead byte followed by the right continuation bytes is exactly that character.
 */
function whiteSpaceAt(b: Uint8Array, i: number, end: number): number {
  const c = b[i]!;
  if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) return 1;
  if (c === 0xc2) {
    const d = i + 1 < end ? b[i + 1]! : 0;
    return d === 0x85 || d === 0xa0 ? 2 : 0;
  }
  if (c < 0xe1 || c > 0xe3 || i + 2 >= end) return 0;
  return isThreeByteWhiteSpace(c, b[i + 1]!, b[i + 2]!) ? 3 : 0;
}

/** U+1680, U+2000–U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 as UTF-8 bytes. */
function isThreeByteWhiteSpace(c0: number, c1: number, c2: number): boolean {
  if (c0 === 0xe2) {
    if (c1 === 0x80) return (c2 >= 0x80 && c2 <= 0x8a) || c2 === 0xa8 || c2 === 0xa9 || c2 === 0xaf;
    return c1 === 0x81 && c2 === 0x9f;
  }
  if (c0 === 0xe1) return c1 === 0x9a && c2 === 0x80;
  return c0 === 0xe3 && c1 === 0x80 && c2 === 0x80;
}

/** First index in [start, end) that is not Unicode white space (`end` when all of it is). */
export function trimStartIndex(b: Uint8Array, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const n = whiteSpaceAt(b, i, end);
    if (n === 0) break;
    i += n;
  }
  return i;
}

/** End index after trimming trailing Unicode white space from [start, end). */
export function trimEndIndex(b: Uint8Array, start: number, end: number): number {
  let e = end;
  while (e > start) {
    const c = b[e - 1]!;
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) {
      e -= 1;
    } else if ((c === 0x85 || c === 0xa0) && e - 2 >= start && b[e - 2] === 0xc2) {
      e -= 2;
    } else if (e - 3 >= start && isThreeByteWhiteSpace(b[e - 3]!, b[e - 2]!, c)) {
      e -= 3;
    } else {
      break;
    }
  }
  return e;
}

/** Index of `byte` in [start, end), or -1. A plain loop: the ranges searched are short words. */
export function indexOfByte(b: Uint8Array, byte: number, start: number, end: number): number {
  for (let i = start; i < end; i++) if (b[i] === byte) return i;
  return -1;
}

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const SIGNED_DECIMAL = /^[+-]?[0-9]+$/;
const UNSIGNED_DECIMAL = /^\+?[0-9]+$/;

/** Rust's `i64::from_str`: optional sign, ASCII digits, in range; otherwise undefined. */
export function parseI64(text: string): bigint | undefined {
  if (!SIGNED_DECIMAL.test(text)) return undefined;
  const n = BigInt(text);
  return n < I64_MIN || n > I64_MAX ? undefined : n;
}

/** Rust's `u16::from_str`: optional `+`, ASCII digits, at most 65535; otherwise undefined. */
export function parseU16(text: string): number | undefined {
  if (!UNSIGNED_DECIMAL.test(text)) return undefined;
  const n = Number(text);
  return n > 0xffff ? undefined : n;
}
