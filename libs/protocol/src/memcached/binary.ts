/**
 * memcached's binary protocol: a 24-byte header (magic 0x80, opcode, key length, extras length,
 * data type, vbucket, total body length, opaque, cas), then extras, key and value. Responses
 * (magic 0x81) repeat the opcode and opaque and carry a status. Quiet opcodes (GETQ, SETQ, ...)
 * answer only what memcached answers for them: a GETQ nothing on a miss, a SETQ nothing on success.
 *
 * A packet whose lengths do not fit its opcode gets "Invalid arguments" and the connection is
 * closed, as memcached does: its framing can no longer be trusted. An unknown opcode gets
 * "Unknown command" and its body is skipped; a value over the limit gets "Too large." and its
 * body is skipped; a header whose magic is not 0x80 closes the connection without a reply.
 * SASL packets (0x20 to 0x22) are decoded here and answered by the dispatch (see auth.ts).
 */
import { type Framing, type MemcachedFailure, type MemcachedRequest, type StoreMode, MEMCACHED_MAX_KEY_BYTES } from './request.js';
import { keyOf } from './tokens.js';

export const BINARY_REQUEST_MAGIC = 0x80;
const RESPONSE_MAGIC = 0x81;
export const BINARY_HEADER_BYTES = 24;

export const OPCODE = {
  get: 0x00,
  set: 0x01,
  add: 0x02,
  replace: 0x03,
  delete: 0x04,
  increment: 0x05,
  decrement: 0x06,
  quit: 0x07,
  flush: 0x08,
  getq: 0x09,
  noop: 0x0a,
  version: 0x0b,
  getk: 0x0c,
  getkq: 0x0d,
  append: 0x0e,
  prepend: 0x0f,
  stat: 0x10,
  setq: 0x11,
  addq: 0x12,
  replaceq: 0x13,
  deleteq: 0x14,
  incrementq: 0x15,
  decrementq: 0x16,
  quitq: 0x17,
  flushq: 0x18,
  appendq: 0x19,
  prependq: 0x1a,
  verbosity: 0x1b,
  touch: 0x1c,
  gat: 0x1d,
  gatq: 0x1e,
  saslListMechs: 0x20,
  saslAuth: 0x21,
  saslStep: 0x22,
  gatk: 0x23,
  gatkq: 0x24,
} as const;

export const STATUS = {
  ok: 0x00,
  notFound: 0x01,
  exists: 0x02,
  tooLarge: 0x03,
  invalid: 0x04,
  notStored: 0x05,
  notANumber: 0x06,
  authError: 0x20,
  authContinue: 0x21,
  noAccess: 0x24,
  unknownCommand: 0x81,
  internal: 0x84,
} as const;

const STATUS_TEXT: Readonly<Record<number, string>> = {
  [STATUS.notFound]: 'Not found',
  [STATUS.exists]: 'Data exists for key.',
  [STATUS.tooLarge]: 'Too large.',
  [STATUS.invalid]: 'Invalid arguments',
  [STATUS.notStored]: 'Not stored.',
  [STATUS.notANumber]: 'Non-numeric server-side value for incr or decr',
  [STATUS.authError]: 'Auth failure.',
  [STATUS.noAccess]: 'No access',
  [STATUS.unknownCommand]: 'Unknown command',
};

/** What each opcode is, and the shape its packet must have. */
interface OpcodeSpec {
  readonly kind: 'get' | 'gat' | 'store' | 'delete' | 'incr' | 'quit' | 'flush' | 'noop' | 'version' | 'stat' | 'verbosity' | 'touch' | 'sasl';
  readonly quiet: boolean;
  readonly withKey?: boolean;
  readonly mode?: StoreMode;
  readonly decrement?: boolean;
  readonly step?: 'list' | 'start' | 'step';
}

/** Longest SASL message taken: a PLAIN one is a user name and a password. */
export const MAX_SASL_MESSAGE_BYTES = 4096;

const SPECS = new Map<number, OpcodeSpec>([
  [OPCODE.get, { kind: 'get', quiet: false }],
  [OPCODE.getq, { kind: 'get', quiet: true }],
  [OPCODE.getk, { kind: 'get', quiet: false, withKey: true }],
  [OPCODE.getkq, { kind: 'get', quiet: true, withKey: true }],
  [OPCODE.gat, { kind: 'gat', quiet: false }],
  [OPCODE.gatq, { kind: 'gat', quiet: true }],
  [OPCODE.gatk, { kind: 'gat', quiet: false, withKey: true }],
  [OPCODE.gatkq, { kind: 'gat', quiet: true, withKey: true }],
  [OPCODE.set, { kind: 'store', quiet: false, mode: 'set' }],
  [OPCODE.setq, { kind: 'store', quiet: true, mode: 'set' }],
  [OPCODE.add, { kind: 'store', quiet: false, mode: 'add' }],
  [OPCODE.addq, { kind: 'store', quiet: true, mode: 'add' }],
  [OPCODE.replace, { kind: 'store', quiet: false, mode: 'replace' }],
  [OPCODE.replaceq, { kind: 'store', quiet: true, mode: 'replace' }],
  [OPCODE.append, { kind: 'store', quiet: false, mode: 'append' }],
  [OPCODE.appendq, { kind: 'store', quiet: true, mode: 'append' }],
  [OPCODE.prepend, { kind: 'store', quiet: false, mode: 'prepend' }],
  [OPCODE.prependq, { kind: 'store', quiet: true, mode: 'prepend' }],
  [OPCODE.delete, { kind: 'delete', quiet: false }],
  [OPCODE.deleteq, { kind: 'delete', quiet: true }],
  [OPCODE.increment, { kind: 'incr', quiet: false, decrement: false }],
  [OPCODE.incrementq, { kind: 'incr', quiet: true, decrement: false }],
  [OPCODE.decrement, { kind: 'incr', quiet: false, decrement: true }],
  [OPCODE.decrementq, { kind: 'incr', quiet: true, decrement: true }],
  [OPCODE.quit, { kind: 'quit', quiet: false }],
  [OPCODE.quitq, { kind: 'quit', quiet: true }],
  [OPCODE.flush, { kind: 'flush', quiet: false }],
  [OPCODE.flushq, { kind: 'flush', quiet: true }],
  [OPCODE.noop, { kind: 'noop', quiet: false }],
  [OPCODE.version, { kind: 'version', quiet: false }],
  [OPCODE.stat, { kind: 'stat', quiet: false }],
  [OPCODE.verbosity, { kind: 'verbosity', quiet: false }],
  [OPCODE.touch, { kind: 'touch', quiet: false }],
  [OPCODE.saslListMechs, { kind: 'sasl', quiet: false, step: 'list' }],
  [OPCODE.saslAuth, { kind: 'sasl', quiet: false, step: 'start' }],
  [OPCODE.saslStep, { kind: 'sasl', quiet: false, step: 'step' }],
]);

/** A request header, as read before its body. */
export interface BinaryHeader {
  readonly magic: number;
  readonly opcode: number;
  readonly keyLength: number;
  readonly extrasLength: number;
  readonly bodyLength: number;
  readonly opaque: number;
  readonly cas: bigint;
}

export function readHeader(bytes: Buffer, at: number): BinaryHeader {
  return {
    magic: bytes[at]!,
    opcode: bytes[at + 1]!,
    keyLength: bytes.readUInt16BE(at + 2),
    extrasLength: bytes[at + 4]!,
    bodyLength: bytes.readUInt32BE(at + 8),
    opaque: bytes.readUInt32BE(at + 12),
    cas: bytes.readBigUInt64BE(at + 16),
  };
}

export type BinaryResult =
  | { readonly kind: 'request'; readonly request: MemcachedRequest }
  /** Answer the failure; `close` when the connection cannot go on, else skip `swallow` body bytes. */
  | { readonly kind: 'failure'; readonly failure: MemcachedFailure; readonly framing: Framing; readonly close: boolean; readonly swallow: number };

const binaryFraming = (header: BinaryHeader, spec: OpcodeSpec | undefined): Framing => ({
  wire: 'binary',
  opcode: header.opcode,
  opaque: header.opaque,
  quiet: spec?.quiet ?? false,
  withKey: spec?.withKey ?? false,
});

const INVALID: MemcachedFailure = { kind: 'client', message: 'Invalid arguments' };

/**
 * What to do on a header before reading its body: undefined to read it, or a failure for a body
 * that is not to be held (an unknown opcode's, a value over the limit, a body no opcode can have).
 */
export function screenHeader(header: BinaryHeader, maxValueBytes: number): BinaryResult | undefined {
  const spec = SPECS.get(header.opcode);
  const framing = binaryFraming(header, spec);
  if (spec === undefined) return { kind: 'failure', failure: { kind: 'unknown' }, framing, close: false, swallow: header.bodyLength };
  const valueLength = header.bodyLength - header.keyLength - header.extrasLength;
  if (valueLength < 0 || header.keyLength > MEMCACHED_MAX_KEY_BYTES) return { kind: 'failure', failure: INVALID, framing, close: true, swallow: 0 };
  if (spec.kind === 'store' && valueLength > maxValueBytes) return { kind: 'failure', failure: { kind: 'too-large' }, framing, close: false, swallow: header.bodyLength };
  if (spec.kind === 'sasl' && valueLength > MAX_SASL_MESSAGE_BYTES) return { kind: 'failure', failure: INVALID, framing, close: false, swallow: header.bodyLength };
  // Only storage and SASL carry a value: any other body is at most its extras and a key (under 510 bytes).
  if (spec.kind !== 'store' && spec.kind !== 'sasl' && valueLength > 0) return { kind: 'failure', failure: INVALID, framing, close: true, swallow: 0 };
  return undefined;
}

/** Extras length each opcode kind requires (flush: 0 or 4). */
const EXTRAS: Readonly<Record<OpcodeSpec['kind'], readonly number[]>> = {
  get: [0],
  gat: [4],
  store: [8],
  delete: [0],
  incr: [20],
  quit: [0],
  flush: [0, 4],
  noop: [0],
  version: [0],
  stat: [0],
  verbosity: [4],
  touch: [4],
  sasl: [0],
};
const KEYED = new Set<OpcodeSpec['kind']>(['get', 'gat', 'store', 'delete', 'incr', 'touch']);

/** A whole packet (its header passed {@link screenHeader}) to a request. */
export function parseBinary(header: BinaryHeader, body: Buffer): BinaryResult {
  const spec = SPECS.get(header.opcode)!;
  const framing = binaryFraming(header, spec);
  const invalid: BinaryResult = { kind: 'failure', failure: INVALID, framing, close: true, swallow: 0 };
  if (!EXTRAS[spec.kind].includes(header.extrasLength)) return invalid;
  if (spec.kind === 'sasl') {
    const mechanism = body.toString('latin1', 0, header.keyLength);
    return { kind: 'request', request: { op: 'sasl', step: spec.step!, mechanism, message: Buffer.from(body.subarray(header.keyLength)), framing } };
  }
  const keyed = KEYED.has(spec.kind);
  if (keyed !== header.keyLength > 0 && spec.kind !== 'stat') return invalid;
  if (spec.mode !== undefined && spec.mode !== 'set' && spec.mode !== 'add' && spec.mode !== 'replace' && header.extrasLength !== 0) return invalid;
  const extras = body.subarray(0, header.extrasLength);
  const keyEnd = header.extrasLength + header.keyLength;
  let key = '';
  if (keyed) {
    const found = keyOf(body, header.extrasLength, keyEnd);
    if (found === undefined) return { kind: 'failure', failure: INVALID, framing, close: false, swallow: 0 };
    key = found;
  }
  const request = (r: MemcachedRequest): BinaryResult => ({ kind: 'request', request: r });
  switch (spec.kind) {
    case 'get':
      return request({ op: 'get', keys: [key], withCas: true, framing });
    case 'gat':
      return request({ op: 'get', keys: [key], withCas: true, touch: extras.readUInt32BE(0), framing });
    case 'touch':
      return request({ op: 'touch', key, exptime: extras.readUInt32BE(0), framing });
    case 'store': {
      const value = Buffer.from(body.subarray(keyEnd));
      const flags = extras.length === 8 ? extras.readUInt32BE(0) : 0;
      const exptime = extras.length === 8 ? extras.readUInt32BE(4) : 0;
      const mode: StoreMode = spec.mode === 'set' && header.cas !== 0n ? 'cas' : spec.mode!;
      return request({ op: 'store', mode, key, flags, exptime, value, cas: header.cas, framing });
    }
    case 'delete':
      return request({ op: 'delete', key, cas: header.cas, framing });
    case 'incr': {
      const exptime = extras.readUInt32BE(16);
      // An expiration of all ones: fail on a missing key instead of creating it.
      const create = exptime === 0xffff_ffff ? {} : { create: { initial: extras.readBigUInt64BE(8), exptime } };
      return request({ op: 'incr', key, delta: extras.readBigUInt64BE(0), decrement: spec.decrement === true, ...create, cas: header.cas, framing });
    }
    case 'flush':
      return request({ op: 'flush', delay: extras.length === 4 ? extras.readUInt32BE(0) : 0, framing });
    case 'quit':
      return request({ op: 'quit', framing });
    case 'version':
      return request({ op: 'version', framing });
    case 'stat':
      return request({ op: 'stats', framing });
    case 'noop':
    case 'verbosity':
      return request({ op: 'noop', framing });
  }
}

/** One response packet. */
export function binaryResponse(
  framing: Extract<Framing, { wire: 'binary' }>,
  status: number,
  parts: { readonly extras?: Uint8Array; readonly key?: Uint8Array; readonly value?: Uint8Array; readonly cas?: bigint } = {},
): Buffer {
  const extrasLength = parts.extras?.length ?? 0;
  const keyLength = parts.key?.length ?? 0;
  const valueLength = parts.value?.length ?? 0;
  const out = Buffer.allocUnsafe(BINARY_HEADER_BYTES + extrasLength + keyLength + valueLength);
  out[0] = RESPONSE_MAGIC;
  out[1] = framing.opcode;
  out.writeUInt16BE(keyLength, 2);
  out[4] = extrasLength;
  out[5] = 0;
  out.writeUInt16BE(status, 6);
  out.writeUInt32BE(extrasLength + keyLength + valueLength, 8);
  out.writeUInt32BE(framing.opaque, 12);
  out.writeBigUInt64BE(parts.cas ?? 0n, 16);
  let at = BINARY_HEADER_BYTES;
  if (parts.extras) out.set(parts.extras, at);
  at += extrasLength;
  if (parts.key) out.set(parts.key, at);
  at += keyLength;
  if (parts.value) out.set(parts.value, at);
  return out;
}

/** An error response: the status, and memcached's text for it (or `message`) as the value. */
export function binaryError(framing: Extract<Framing, { wire: 'binary' }>, status: number, message?: string): Buffer {
  return binaryResponse(framing, status, { value: Buffer.from(message ?? STATUS_TEXT[status] ?? 'Internal error', 'utf8') });
}
