/**
 * Reply bytes for a request's outcome or failure, in the wire form its framing names: classic
 * text (`STORED`, `VALUE ...`), meta (`HD`, `VA`, `EN` with the flags asked for), or a binary
 * response. Fixed replies are shared Buffers: write them, never mutate them.
 */
import { framed, type ReplyBytes } from '../session/reply-bytes.js';
import { binaryError, binaryResponse, STATUS } from './binary.js';
import { keyBytes } from './tokens.js';
import { type Framing, type MemcachedFailure, type MemcachedItem, type MemcachedOutcome, type MemcachedRequest, type StoreMode } from './request.js';

type BinaryFraming = Extract<Framing, { wire: 'binary' }>;
type MetaFraming = Extract<Framing, { wire: 'meta' }>;

const line = (text: string): Buffer => Buffer.from(`${text}\r\n`, 'utf8');
const NOTHING = Buffer.alloc(0);
const END = line('END');
const TEXT_REPLY = {
  stored: line('STORED'),
  not_stored: line('NOT_STORED'),
  exists: line('EXISTS'),
  not_found: line('NOT_FOUND'),
  deleted: line('DELETED'),
  touched: line('TOUCHED'),
  ok: line('OK'),
  error: line('ERROR'),
} as const;
const TOO_LARGE = line('SERVER_ERROR object too large for cache');
const NOT_A_NUMBER = line('CLIENT_ERROR cannot increment or decrement non-numeric value');
const UNAUTHENTICATED = line('CLIENT_ERROR unauthenticated');
const AUTH_FAILURE = 'CLIENT_ERROR authentication failure';

/** Control characters in an error text would break the line framing: each becomes a space. */
const printable = (message: string): string => message.replace(/[\r\n]/g, ' ');

export function encodeFailure(framing: Framing, failure: MemcachedFailure): Buffer {
  if (framing.wire === 'binary') return binaryFailure(framing, failure);
  if (framing.wire === 'text' && framing.noreply) return NOTHING;
  switch (failure.kind) {
    case 'unauthenticated':
      return UNAUTHENTICATED;
    case 'auth-failed':
      return line(failure.reason === undefined ? AUTH_FAILURE : `${AUTH_FAILURE}: ${printable(failure.reason)}`);
    case 'forbidden':
      return line(`CLIENT_ERROR ${printable(failure.message)}`);
    case 'unknown':
      return TEXT_REPLY.error;
    case 'client':
      return line(`CLIENT_ERROR ${printable(failure.message)}`);
    case 'too-large':
      return TOO_LARGE;
    case 'not-a-number':
      return NOT_A_NUMBER;
    case 'server':
      return line(`SERVER_ERROR ${printable(failure.message)}`);
  }
}

function binaryFailure(framing: BinaryFraming, failure: MemcachedFailure): Buffer {
  switch (failure.kind) {
    case 'unknown':
      return binaryError(framing, STATUS.unknownCommand);
    case 'client':
      return binaryError(framing, STATUS.invalid);
    case 'too-large':
      return binaryError(framing, STATUS.tooLarge);
    case 'not-a-number':
      return binaryError(framing, STATUS.notANumber);
    case 'server':
      return binaryError(framing, STATUS.internal, failure.message);
    case 'unauthenticated':
      return binaryError(framing, STATUS.authError);
    case 'auth-failed':
      return binaryError(framing, STATUS.authError, failure.reason);
    case 'forbidden':
      return binaryError(framing, STATUS.noAccess, failure.message);
  }
}

/** The reply to `request` given what it came to (a large value as pieces, see `framed`). */
export function encodeOutcome(request: MemcachedRequest, outcome: MemcachedOutcome): ReplyBytes {
  const { framing } = request;
  switch (framing.wire) {
    case 'text':
      return framing.noreply ? NOTHING : textReply(request, outcome);
    case 'meta':
      return metaReply(framing, request, outcome);
    case 'binary':
      return binaryReply(framing, request, outcome);
  }
}

// ---------------------------------------------------------------- classic text

function textReply(request: MemcachedRequest, outcome: MemcachedOutcome): ReplyBytes {
  switch (outcome.op) {
    case 'get':
      return request.op === 'get' ? valueBlocks(request.keys, outcome.items, request.withCas, request.end !== false) : TEXT_REPLY.error;
    case 'store':
      return TEXT_REPLY[outcome.status];
    case 'delete':
      return TEXT_REPLY[outcome.status];
    case 'incr':
      if (outcome.status === 'adjusted') return line(String(outcome.value));
      return outcome.status === 'exists' ? TEXT_REPLY.exists : TEXT_REPLY.not_found;
    case 'touch':
      return outcome.touched ? TEXT_REPLY.touched : TEXT_REPLY.not_found;
    case 'flush':
    case 'noop':
      return TEXT_REPLY.ok;
    case 'version':
      return line(`VERSION ${outcome.version}`);
    case 'stats':
      return Buffer.from(`${outcome.stats.map(([name, value]) => `STAT ${name} ${value}\r\n`).join('')}END\r\n`, 'utf8');
    case 'debug':
      return debugLine(request, outcome.item);
    case 'signed-in':
      return TEXT_REPLY.stored;
    case 'mechanisms':
    case 'sasl-continue':
      // SASL is binary only.
      return TEXT_REPLY.error;
  }
}

/** `VALUE <key> <flags> <bytes>[ <cas>]`, the data, for each item found; then `END`. */
function valueBlocks(keys: readonly string[], items: readonly (MemcachedItem | undefined)[], withCas: boolean, end: boolean): ReplyBytes {
  const parts: Uint8Array[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (item === undefined) continue;
    const cas = withCas ? ` ${item.cas}` : '';
    parts.push(VALUE, keyBytes(keys[i]!), Buffer.from(` ${item.flags} ${item.value.length}${cas}\r\n`, 'latin1'), item.value, CRLF);
  }
  if (end) parts.push(END);
  return framed(parts);
}

const CRLF = Buffer.from('\r\n', 'latin1');
const VALUE = Buffer.from('VALUE ', 'latin1');

function debugLine(request: MemcachedRequest, item: MemcachedItem | undefined): Buffer {
  if (item === undefined || request.op !== 'debug') return EN;
  return Buffer.concat([ME, keyBytes(request.key), line(` exp=${item.ttl} la=0 cas=${item.cas} fetch=no cls=1 size=${item.value.length}`)]);
}

// ---------------------------------------------------------------- meta

const EN = line('EN');
const ME = Buffer.from('ME ', 'latin1');
const MN = line('MN');

/** The flags echoed: what was asked for, in request order, from `values` (absent ones are left out). */
function returned(framing: MetaFraming, key: string, values: Partial<Record<string, string>>): string {
  let out = '';
  for (const { flag, token } of framing.returns) {
    if (flag === 'O') out += ` O${token ?? ''}`;
    // A base64 key is echoed base64, marked by `b` after it.
    else if (flag === 'k') out += framing.base64Key ? ` k${keyBytes(key).toString('base64')} b` : ` k${key}`;
    else if (values[flag] !== undefined) out += ` ${flag}${values[flag]}`;
  }
  return out;
}

const itemFlags = (item: MemcachedItem): Partial<Record<string, string>> => ({
  c: String(item.cas),
  f: String(item.flags),
  s: String(item.value.length),
  t: String(item.ttl),
  h: '0',
  l: '0',
});

function metaReply(framing: MetaFraming, request: MemcachedRequest, outcome: MemcachedOutcome): ReplyBytes {
  const key = 'key' in request ? request.key : request.op === 'get' ? request.keys[0]! : '';
  const status = (code: string, values: Partial<Record<string, string>> = {}): Buffer => line(`${code}${returned(framing, key, values)}`);
  switch (outcome.op) {
    case 'get': {
      const item = outcome.items[0];
      if (item === undefined) return framing.quiet ? NOTHING : status('EN');
      if (!framing.value) return status('HD', itemFlags(item));
      return withData(`VA ${item.value.length}${returned(framing, key, itemFlags(item))}`, item.value);
    }
    case 'store':
      if (outcome.status === 'stored') return framing.quiet ? NOTHING : status('HD', { c: String(outcome.cas) });
      return status(outcome.status === 'not_stored' ? 'NS' : outcome.status === 'exists' ? 'EX' : 'NF');
    case 'delete':
      if (outcome.status === 'deleted') return framing.quiet ? NOTHING : status('HD');
      return status(outcome.status === 'exists' ? 'EX' : 'NF');
    case 'incr': {
      if (outcome.status !== 'adjusted') return status(outcome.status === 'exists' ? 'EX' : 'NF');
      const values = { c: String(outcome.cas), t: '-1' };
      if (framing.value) {
        const digits = String(outcome.value);
        return withData(`VA ${digits.length}${returned(framing, key, values)}`, Buffer.from(digits, 'latin1'));
      }
      return framing.quiet ? NOTHING : status('HD', values);
    }
    case 'debug':
      return debugLine(request, outcome.item);
    case 'noop':
      return MN;
    default:
      // Meta framing only comes with the meta commands above.
      return textReply(request, outcome);
  }
}

function withData(header: string, data: Uint8Array): ReplyBytes {
  return framed([Buffer.from(`${header}\r\n`, 'utf8'), data, CRLF]);
}

// ---------------------------------------------------------------- binary

/** Binary status of a refused store, by mode: memcached answers an add on a present key "exists", a replace on a missing one "not found". */
const NOT_STORED_STATUS: Readonly<Record<StoreMode, number>> = {
  set: STATUS.notStored,
  cas: STATUS.notStored,
  add: STATUS.exists,
  replace: STATUS.notFound,
  append: STATUS.notStored,
  prepend: STATUS.notStored,
};

function binaryReply(framing: BinaryFraming, request: MemcachedRequest, outcome: MemcachedOutcome): Buffer {
  switch (outcome.op) {
    case 'get': {
      const item = outcome.items[0];
      const key = framing.withKey && request.op === 'get' ? keyBytes(request.keys[0]!) : undefined;
      if (item === undefined) {
        if (framing.quiet) return NOTHING;
        return binaryResponse(framing, STATUS.notFound, { key, value: Buffer.from('Not found', 'latin1') });
      }
      return binaryResponse(framing, STATUS.ok, { extras: flagsExtras(item.flags), key, value: item.value, cas: item.cas });
    }
    case 'store': {
      if (outcome.status === 'stored') return framing.quiet ? NOTHING : binaryResponse(framing, STATUS.ok, { cas: outcome.cas });
      const mode = request.op === 'store' ? request.mode : 'set';
      const code = outcome.status === 'not_stored' ? NOT_STORED_STATUS[mode] : outcome.status === 'exists' ? STATUS.exists : STATUS.notFound;
      return binaryError(framing, code);
    }
    case 'delete':
      if (outcome.status === 'deleted') return framing.quiet ? NOTHING : binaryResponse(framing, STATUS.ok);
      return binaryError(framing, outcome.status === 'exists' ? STATUS.exists : STATUS.notFound);
    case 'incr': {
      if (outcome.status !== 'adjusted') return binaryError(framing, outcome.status === 'exists' ? STATUS.exists : STATUS.notFound);
      if (framing.quiet) return NOTHING;
      const value = Buffer.allocUnsafe(8);
      value.writeBigUInt64BE(outcome.value);
      return binaryResponse(framing, STATUS.ok, { value, cas: outcome.cas });
    }
    case 'touch':
      return outcome.touched ? binaryResponse(framing, STATUS.ok) : binaryError(framing, STATUS.notFound);
    case 'flush':
      return framing.quiet ? NOTHING : binaryResponse(framing, STATUS.ok);
    case 'noop':
      return binaryResponse(framing, STATUS.ok);
    case 'version':
      return binaryResponse(framing, STATUS.ok, { value: Buffer.from(outcome.version, 'utf8') });
    case 'stats':
      return Buffer.concat([
        ...outcome.stats.map(([name, value]) => binaryResponse(framing, STATUS.ok, { key: Buffer.from(name, 'utf8'), value: Buffer.from(value, 'utf8') })),
        binaryResponse(framing, STATUS.ok),
      ]);
    case 'debug':
      return binaryError(framing, STATUS.unknownCommand);
    case 'signed-in':
      return binaryResponse(framing, STATUS.ok, { value: AUTHENTICATED });
    case 'mechanisms':
      return binaryResponse(framing, STATUS.ok, { value: Buffer.from(outcome.names, 'latin1') });
    case 'sasl-continue':
      return binaryResponse(framing, STATUS.authContinue);
  }
}

const AUTHENTICATED = Buffer.from('Authenticated', 'latin1');

function flagsExtras(flags: number): Buffer {
  const extras = Buffer.allocUnsafe(4);
  extras.writeUInt32BE(flags >>> 0);
  return extras;
}
