/**
 * The meta commands (`mg`, `ms`, `md`, `ma`, `mn`, `me`): a key, then single-letter flags, some
 * with a token (`T30`, `O123`). Flags that ask for something back (`c f h k l O s t`) are kept in
 * request order and echoed in the reply (`b`: a base64 key, echoed base64 with `k`); `q` hides the common reply (EN of mg, HD of the others).
 * Supported: mg `b c f k O q s t v T`, plus `h l` (answered 0); ms `b c C F I k O q T M`; md
 * `b C k O q I`; ma `b c C D J k M N O q t T v`; me `b`. The error texts are memcached 1.6's.
 */
import { clientFailure, type LineLimits, type LineResult, TEXT_FRAMING } from './line-result.js';
import { type Framing, type MetaReturn, type StoreMode } from './request.js';
import { BAD_FORMAT, keyOf, parseI32, parseU32, parseU64, tokenText } from './tokens.js';

const ALLOWED: Readonly<Record<string, string>> = {
  mg: 'bcfhklOqstvTNRE',
  ms: 'bcCFIkOqTMSE',
  md: 'bCkOqIT',
  ma: 'bcCDJkMNOqtTvE',
  me: 'b',
};
/** Flags whose letter is echoed back with a value. */
const RETURNED = new Set(['c', 'f', 'h', 'k', 'l', 'O', 's', 't']);
const STORE_MODES: Readonly<Record<string, StoreMode>> = { E: 'add', e: 'add', A: 'append', a: 'append', P: 'prepend', p: 'prepend', R: 'replace', r: 'replace', S: 'set', s: 'set' };

interface MetaFlags {
  readonly returns: MetaReturn[];
  readonly tokens: Map<string, string>;
}

/** Parses the flags at tokens [from, count); a string is the CLIENT_ERROR message. */
function parseFlags(line: Buffer, t: readonly number[], from: number, word: string): MetaFlags | string {
  const allowed = ALLOWED[word]!;
  const seen = new Set<string>();
  const returns: MetaReturn[] = [];
  const tokens = new Map<string, string>();
  for (let i = from; i < t.length / 2; i++) {
    const text = tokenText(line, t, i);
    const flag = text[0]!;
    if (!allowed.includes(flag)) return word === 'mg' ? 'invalid flag' : 'invalid or duplicate flag';
    if (seen.has(flag)) return word === 'mg' ? 'duplicate flag' : 'invalid or duplicate flag';
    seen.add(flag);
    tokens.set(flag, text.slice(1));
    if (RETURNED.has(flag)) returns.push(flag === 'O' ? { flag, token: text.slice(1) } : { flag });
  }
  return { returns, tokens };
}

/** The key token, decoded from base64 under `b`; undefined when invalid. */
function metaKey(line: Buffer, t: readonly number[], base64: boolean): string | undefined {
  if (!base64) return keyOf(line, t[2]!, t[3]!);
  const decoded = Buffer.from(tokenText(line, t, 1), 'base64');
  return keyOf(decoded, 0, decoded.length);
}

/** A numeric flag's token, or undefined when absent; NaN-like failures come back as null. */
function numberFlag<T>(flags: MetaFlags, flag: string, parse: (text: string) => T | undefined): T | undefined | null {
  const text = flags.tokens.get(flag);
  if (text === undefined) return undefined;
  return parse(text) ?? null;
}

export function parseMetaLine(line: Buffer, t: readonly number[], word: string, limits: LineLimits): LineResult {
  const count = t.length / 2;
  if (word === 'mn') return { kind: 'request', request: { op: 'noop', framing: { wire: 'meta', quiet: false, returns: [], base64Key: false, value: false } } };
  // memcached answers a bare meta command as an unknown one.
  if (count < 2) return { kind: 'failure', failure: { kind: 'unknown' }, framing: TEXT_FRAMING, swallow: 0 };
  const isSet = word === 'ms';
  if (isSet && count < 3) return clientFailure(BAD_FORMAT);
  const dataLength = isSet ? parseI32(tokenText(line, t, 2)) : 0;
  if (dataLength === undefined || dataLength < 0) return clientFailure(BAD_FORMAT);
  const swallow = isSet ? dataLength + 2 : 0;
  const flags = parseFlags(line, t, isSet ? 3 : 2, word);
  if (typeof flags === 'string') return clientFailure(flags, undefined, swallow);
  const base64Key = flags.tokens.has('b');
  const key = metaKey(line, t, base64Key);
  if (key === undefined) return clientFailure(base64Key ? 'error decoding key' : BAD_FORMAT, undefined, swallow);
  const framing: Framing = { wire: 'meta', quiet: flags.tokens.has('q'), returns: flags.returns, base64Key, value: flags.tokens.has('v') };
  const badToken = (message: string): LineResult => clientFailure(message, framing, swallow);

  switch (word) {
    case 'mg': {
      const touch = numberFlag(flags, 'T', parseI32);
      if (touch === null) return badToken('bad token in command line format');
      return { kind: 'request', request: { op: 'get', keys: [key], withCas: true, ...(touch === undefined ? {} : { touch }), framing } };
    }
    case 'me':
      return { kind: 'request', request: { op: 'debug', key, framing } };
    case 'md': {
      const cas = numberFlag(flags, 'C', parseU64);
      if (cas === null) return badToken('invalid or duplicate flag');
      return { kind: 'request', request: { op: 'delete', key, cas: cas ?? 0n, framing } };
    }
    case 'ma':
      return metaArithmetic(key, flags, framing, badToken);
    default:
      return metaSet(key, dataLength, flags, framing, limits, badToken);
  }
}

function metaSet(key: string, bytes: number, flags: MetaFlags, framing: Framing, limits: LineLimits, badToken: (message: string) => LineResult): LineResult {
  const clientFlags = numberFlag(flags, 'F', parseU32);
  const exptime = numberFlag(flags, 'T', parseI32);
  const cas = numberFlag(flags, 'C', parseU64);
  if (clientFlags === null || exptime === null || cas === null) return badToken(BAD_FORMAT);
  const modeToken = flags.tokens.get('M');
  let mode: StoreMode = 'set';
  if (modeToken !== undefined) {
    const found = STORE_MODES[modeToken];
    if (found === undefined || modeToken.length !== 1) return badToken('invalid mode for ms M token');
    mode = found;
  }
  // A compare value makes a plain set a compare-and-set; the other modes keep it as their condition.
  if (mode === 'set' && cas !== undefined) mode = 'cas';
  if (bytes > limits.maxValueBytes) return { kind: 'failure', failure: { kind: 'too-large' }, framing, swallow: bytes + 2 };
  const store = { mode, key, flags: clientFlags ?? 0, exptime: exptime ?? 0, cas: cas ?? 0n, framing };
  return { kind: 'data', bytes, framing, complete: (value) => ({ op: 'store', ...store, value }) };
}

function metaArithmetic(key: string, flags: MetaFlags, framing: Framing, badToken: (message: string) => LineResult): LineResult {
  const delta = numberFlag(flags, 'D', parseU64);
  const initial = numberFlag(flags, 'J', parseU64);
  const vivify = numberFlag(flags, 'N', parseI32);
  const cas = numberFlag(flags, 'C', parseU64);
  if (delta === null || initial === null || vivify === null || cas === null) return badToken('invalid or duplicate flag');
  const modeToken = flags.tokens.get('M');
  let decrement = false;
  if (modeToken !== undefined) {
    if (modeToken.length !== 1 || !'IiDd+-'.includes(modeToken)) return badToken('invalid mode for ma M token');
    decrement = 'Dd-'.includes(modeToken);
  }
  const create = vivify === undefined ? {} : { create: { initial: initial ?? 0n, exptime: vivify } };
  return { kind: 'request', request: { op: 'incr', key, delta: delta ?? 1n, decrement, ...create, cas: cas ?? 0n, framing } };
}
