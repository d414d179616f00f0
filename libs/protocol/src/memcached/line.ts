/**
 * One text command line (classic or meta) to what the decoder does next: execute a request, read
 * a data block first, or answer a failure. Replies to malformed lines are memcached's own
 * (checked against memcached 1.6), with one deliberate difference: when a storage line is refused
 * but its byte count is readable, the data block that follows is skipped, where memcached would
 * read the block as commands (answering `ERROR` to it, or running it).
 */
import { clientFailure, type LineLimits, type LineResult, TEXT_FRAMING } from './line-result.js';
import { parseMetaLine } from './meta.js';
import { type Framing, type MemcachedRequest, type StoreMode } from './request.js';
import { BAD_FORMAT, keyOf, parseI32, parseU32, parseU64, tokenize, tokenText } from './tokens.js';

const TEXT = TEXT_FRAMING;
const NOREPLY: Framing = { wire: 'text', noreply: true };
const UNKNOWN: LineResult = { kind: 'failure', failure: { kind: 'unknown' }, framing: TEXT, swallow: 0 };

const request = (r: MemcachedRequest): LineResult => ({ kind: 'request', request: r });

/** line[start, end): the bytes before `\n`, a trailing `\r` included (it is dropped here). */
export function parseTextLine(line: Buffer, start: number, end: number, limits: LineLimits): LineResult {
  const stop = end > start && line[end - 1] === 0x0d ? end - 1 : end;
  const t = tokenize(line, start, stop);
  const count = t.length / 2;
  if (count === 0) return UNKNOWN;
  const word = tokenText(line, t, 0);
  switch (word) {
    case 'get':
    case 'gets':
      return count < 2 ? UNKNOWN : retrieval(line, t, 1, word === 'gets', undefined);
    case 'gat':
    case 'gats': {
      if (count < 3) return UNKNOWN;
      const exptime = parseI32(tokenText(line, t, 1));
      if (exptime === undefined) return clientFailure('invalid exptime argument');
      return retrieval(line, t, 2, word === 'gats', exptime);
    }
    case 'set':
    case 'add':
    case 'replace':
    case 'append':
    case 'prepend':
    case 'cas':
      return storage(line, t, word, limits);
    case 'delete':
      return deletion(line, t);
    case 'incr':
    case 'decr':
      return arithmetic(line, t, word === 'decr');
    case 'touch':
      return touch(line, t);
    case 'flush_all':
      return flush(line, t);
    case 'version':
      return request({ op: 'version', framing: TEXT });
    case 'verbosity':
      if (count < 2 || count > 3) return UNKNOWN;
      return request({ op: 'noop', framing: noreplyAt(line, t, count, 3) });
    case 'stats':
      return count === 1 ? request({ op: 'stats', framing: TEXT }) : UNKNOWN;
    case 'quit':
      return request({ op: 'quit', framing: TEXT });
    case 'mg':
    case 'ms':
    case 'md':
    case 'ma':
    case 'mn':
    case 'me':
      return parseMetaLine(line, t, word, limits);
    default:
      return UNKNOWN;
  }
}

/** The framing of a command whose optional last token (at `position` tokens) may be `noreply`. */
function noreplyAt(line: Buffer, t: readonly number[], count: number, position: number): Framing {
  return count === position && tokenText(line, t, position - 1) === 'noreply' ? NOREPLY : TEXT;
}

function retrieval(line: Buffer, t: readonly number[], from: number, withCas: boolean, touch: number | undefined): LineResult {
  const keys: string[] = [];
  for (let i = from; i < t.length / 2; i++) {
    const key = keyOf(line, t[2 * i]!, t[2 * i + 1]!);
    if (key === undefined) return clientFailure(BAD_FORMAT);
    keys.push(key);
  }
  return request({ op: 'get', keys, withCas, ...(touch === undefined ? {} : { touch }), framing: TEXT });
}

function storage(line: Buffer, t: readonly number[], word: string, limits: LineLimits): LineResult {
  const count = t.length / 2;
  const mode = word as StoreMode;
  const base = mode === 'cas' ? 6 : 5;
  if (count !== base && count !== base + 1) return UNKNOWN;
  const framing = noreplyAt(line, t, count, base + 1);
  const bytes = parseI32(tokenText(line, t, 4));
  if (bytes === undefined || bytes < 0) return clientFailure(BAD_FORMAT, framing);
  const block = bytes + 2;
  const key = keyOf(line, t[2]!, t[3]!);
  const flags = parseU32(tokenText(line, t, 2));
  const exptime = parseI32(tokenText(line, t, 3));
  const cas = mode === 'cas' ? parseU64(tokenText(line, t, 5)) : 0n;
  if (key === undefined || flags === undefined || exptime === undefined || cas === undefined) return clientFailure(BAD_FORMAT, framing, block);
  if (bytes > limits.maxValueBytes) return { kind: 'failure', failure: { kind: 'too-large' }, framing, swallow: block };
  return { kind: 'data', bytes, framing, complete: (value) => ({ op: 'store', mode, key, flags, exptime, value, cas, framing }) };
}

const DELETE_USAGE = `${BAD_FORMAT}.  Usage: delete <key> [noreply]`;

function deletion(line: Buffer, t: readonly number[]): LineResult {
  const count = t.length / 2;
  if (count < 2 || count > 4) return UNKNOWN;
  const key = keyOf(line, t[2]!, t[3]!);
  if (key === undefined) return clientFailure(BAD_FORMAT);
  let framing = TEXT;
  if (count > 2) {
    // memcached still takes the long-gone hold time, when it is 0.
    const holdIsZero = tokenText(line, t, 2) === '0';
    const noreply = tokenText(line, t, count - 1) === 'noreply';
    const valid = (count === 3 && (holdIsZero || noreply)) || (count === 4 && holdIsZero && noreply);
    if (!valid) return clientFailure(DELETE_USAGE);
    if (noreply) framing = NOREPLY;
  }
  return request({ op: 'delete', key, cas: 0n, framing });
}

function arithmetic(line: Buffer, t: readonly number[], decrement: boolean): LineResult {
  return keyAndNumber(line, t, parseU64, 'invalid numeric delta argument', (key, delta, framing) => request({ op: 'incr', key, delta, decrement, cas: 0n, framing }));
}

function touch(line: Buffer, t: readonly number[]): LineResult {
  return keyAndNumber(line, t, parseI32, 'invalid exptime argument', (key, exptime, framing) => request({ op: 'touch', key, exptime, framing }));
}

/** `<command> <key> <number> [noreply]` (incr, decr, touch): the key and the number parsed, or memcached's refusal. */
function keyAndNumber<N>(
  line: Buffer,
  t: readonly number[],
  parse: (text: string) => N | undefined,
  badNumber: string,
  make: (key: string, n: N, framing: Framing) => LineResult,
): LineResult {
  const count = t.length / 2;
  if (count !== 3 && count !== 4) return UNKNOWN;
  const framing = noreplyAt(line, t, count, 4);
  const key = keyOf(line, t[2]!, t[3]!);
  if (key === undefined) return clientFailure(BAD_FORMAT, framing);
  const n = parse(tokenText(line, t, 2));
  if (n === undefined) return clientFailure(badNumber, framing);
  return make(key, n, framing);
}

function flush(line: Buffer, t: readonly number[]): LineResult {
  const count = t.length / 2;
  if (count > 3) return UNKNOWN;
  const last = count > 1 ? tokenText(line, t, count - 1) : '';
  const framing = last === 'noreply' ? NOREPLY : TEXT;
  const delayTokens = count - 1 - (last === 'noreply' ? 1 : 0);
  if (delayTokens > 1) return UNKNOWN;
  if (delayTokens === 0) return request({ op: 'flush', delay: 0, framing });
  const delay = parseI32(tokenText(line, t, 1));
  if (delay === undefined) return clientFailure('invalid exptime argument', framing);
  return request({ op: 'flush', delay: Math.max(0, delay), framing });
}
