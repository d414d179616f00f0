/*
 * The wire format of a replicated change (the payload of a JetStream message).
 *
 * Compact, versioned and strict: a receiver either gets exactly the record that was sent or a
 * ReplicationError('BAD_MESSAGE'), never a half-parsed record and never another exception, so
 * the subscriber can `term()` garbage without ever redelivering or stalling on it. Layout,
 * format version 1 (varints are unsigned LEB128 of minimal length; "str" is a varint byte
 * length then UTF-8):
 *
 *   u8     version = 1
 *   u8     kind: 0 entry, 1 truncate
 *   u16be  shard, < 4096 (the configured maximum; the decoder may be told the actual count)
 *   varint seq, the origin's outbox sequence, 0 .. 2^64-1
 *   str    origin, a node id: 1-64 of A-Z a-z 0-9 _ -
 *   entry:    str key (1 .. 1 MiB bytes), then the entry in #crdt's canonical encoding up to
 *             the end of the message (that codec refuses trailing bytes itself)
 *   truncate: 8-byte HLC + str node (0-1024 bytes): the floor stamp; nothing after it
 *
 * Why not JSON: bigints, bytes values and the CRDT maps have no JSON form, and #crdt already
 * owns a canonical binary encoding of entries. Why a version byte: a rolling upgrade can run
 * two formats side by side; an unknown version is refused (and counted) rather than guessed at.
 * Trace context does not live here: it travels in the `traceparent` header. Nor does the clock
 * of a counter's or set's write: it travels in the `MerkleKV-Written` header (see WRITTEN_HEADER).
 */
import { type Entry, type Hlc, type NodeId, decodeEntry, decodeHlc, encodeEntry, encodeHlc, isValidHlc } from '#crdt';
import { ReplicationError } from './errors.js';
import { type ChangeRecord } from './ports.js';
import { MAX_SHARDS } from './subjects.js';

export const CHANGE_FORMAT_VERSION = 1;

const KIND = { entry: 0, truncate: 1 } as const;
const MAX_KEY_BYTES = 1 << 20;
const MAX_STAMP_NODE_BYTES = 1024;
const MAX_SEQ = (1n << 64n) - 1n;
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const utf8 = new TextEncoder();
// fatal: invalid UTF-8 throws instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is data.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// ---------------------------------------------------------------------------------------------
// Writing

function badRecord(why: string, cause?: unknown): never {
  throw new ReplicationError('BAD_RECORD', `cannot encode change: ${why}`, cause === undefined ? undefined : { cause });
}

function utf8Of(what: string, s: string, min: number, max: number): Uint8Array {
  if (LONE_SURROGATE.test(s)) badRecord(`${what} is not well-formed UTF-16`);
  const b = utf8.encode(s);
  if (b.length < min || b.length > max) badRecord(`${what} is ${b.length} bytes, must be ${min}-${max}`);
  return b;
}

function varintSize(v: bigint): number {
  let n = 1;
  while (v >= 0x80n) {
    v >>= 7n;
    n++;
  }
  return n;
}

class Out {
  pos = 0;
  constructor(readonly buf: Uint8Array) {}

  u8(v: number): void {
    this.buf[this.pos++] = v;
  }

  varint(v: bigint): void {
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    this.buf[this.pos++] = Number(v);
  }

  raw(b: Uint8Array): void {
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  str(b: Uint8Array): void {
    this.varint(BigInt(b.length));
    this.raw(b);
  }
}

const strSize = (b: Uint8Array): number => varintSize(BigInt(b.length)) + b.length;

/** Encodes a change; throws ReplicationError('BAD_RECORD') for a record that has no encoding. */
export function encodeChange(record: ChangeRecord): Uint8Array {
  const { shard, seq, origin } = record;
  if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) badRecord(`shard ${shard} is not in [0, ${MAX_SHARDS})`);
  if (typeof seq !== 'bigint' || seq < 0n || seq > MAX_SEQ) badRecord(`seq ${String(seq)} is not in [0, 2^64)`);
  if (!NODE_ID.test(origin)) badRecord(`origin ${JSON.stringify(origin)} is not a node id`);
  const originBytes = utf8.encode(origin);
  const head = 4 + varintSize(seq) + strSize(originBytes);
  let out: Out;
  if (record.kind === 'entry') {
    const key = utf8Of('key', record.key, 1, MAX_KEY_BYTES);
    let entry: Uint8Array;
    try {
      entry = encodeEntry(record.entry);
    } catch (err) {
      return badRecord('the entry has no encoding', err);
    }
    out = new Out(new Uint8Array(head + strSize(key) + entry.length));
    writeHead(out, KIND.entry, shard, seq, originBytes);
    out.str(key);
    out.raw(entry);
  } else if (record.kind === 'truncate') {
    const node = utf8Of('floor node', record.floor.node, 0, MAX_STAMP_NODE_BYTES);
    let hlc: Uint8Array;
    try {
      hlc = encodeHlc(record.floor.hlc);
    } catch (err) {
      return badRecord('the floor clock has no encoding', err);
    }
    out = new Out(new Uint8Array(head + 8 + strSize(node)));
    writeHead(out, KIND.truncate, shard, seq, originBytes);
    out.raw(hlc);
    out.str(node);
  } else {
    return badRecord(`unknown kind ${JSON.stringify((record as { kind: unknown }).kind)}`);
  }
  return out.buf;
}

function writeHead(out: Out, kind: number, shard: number, seq: bigint, origin: Uint8Array): void {
  out.u8(CHANGE_FORMAT_VERSION);
  out.u8(kind);
  out.u8(shard >>> 8);
  out.u8(shard & 0xff);
  out.varint(seq);
  out.str(origin);
}

// ---------------------------------------------------------------------------------------------
// Reading

function bad(why: string, cause?: unknown): never {
  throw new ReplicationError('BAD_MESSAGE', `malformed change: ${why}`, cause === undefined ? undefined : { cause });
}

class In {
  pos = 0;
  constructor(readonly b: Uint8Array) {}

  get remaining(): number {
    return this.b.length - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.remaining) bad(`truncated ${what} at byte ${this.pos}`);
  }

  u8(what: string): number {
    this.need(1, what);
    return this.b[this.pos++]!;
  }

  /** Unsigned LEB128 of minimal length, at most `maxBits` significant bits. */
  varint(what: string, maxBits: number): bigint {
    let v = 0n;
    let shift = 0n;
    for (let i = 0; ; i++) {
      const byte = this.u8(what);
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) bad(`non-minimal varint in ${what}`);
        if (v >> BigInt(maxBits) !== 0n) bad(`${what} out of range`);
        return v;
      }
      shift += 7n;
      if (shift >= BigInt(maxBits) + 7n) bad(`${what}: varint too long`);
    }
  }

  str(what: string, min: number, max: number): string {
    const len = Number(this.varint(`${what} length`, 32));
    if (len < min || len > max) bad(`${what} length ${len} is not in ${min}-${max}`);
    this.need(len, what);
    const bytes = this.b.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return strictUtf8.decode(bytes);
    } catch (err) {
      return bad(`${what} is not valid UTF-8`, err);
    }
  }
}

export interface DecodeChangeOptions {
  /** The cluster's shard count: a shard at or above it is refused (default 4096, the maximum). */
  readonly shards?: number;
}

/** What a change says before its payload: enough to route it, or to skip it unread. */
export interface ChangeHead {
  readonly kind: ChangeRecord['kind'];
  readonly origin: NodeId;
  readonly seq: bigint;
  readonly shard: number;
  /** Where the payload starts, for decodeChangePayload. */
  readonly end: number;
}

/**
 * Decodes a change. Throws ReplicationError('BAD_MESSAGE') on any malformed input, and nothing
 * else; never hangs (every loop consumes input). The record never aliases `bytes`.
 */
export function decodeChange(bytes: Uint8Array, options: DecodeChangeOptions = {}): ChangeRecord {
  return strictly(() => {
    const r = new In(bytes);
    return decodeBody(r, readHead(r, options.shards ?? MAX_SHARDS));
  });
}

/**
 * Decodes only the head of a change, as strictly as decodeChange: a node reads its own changes
 * back from the stream, and skipping those needs their origin, not their entries.
 */
export function decodeChangeHead(bytes: Uint8Array, options: DecodeChangeOptions = {}): ChangeHead {
  return strictly(() => readHead(new In(bytes), options.shards ?? MAX_SHARDS));
}

/** Decodes the rest of a change whose head decodeChangeHead read from the same `bytes`. */
export function decodeChangePayload(bytes: Uint8Array, head: ChangeHead): ChangeRecord {
  return strictly(() => {
    const r = new In(bytes);
    r.pos = head.end;
    return decodeBody(r, head);
  });
}

function strictly<T>(decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ReplicationError && err.code === 'BAD_MESSAGE') throw err;
    return bad('undecodable', err);
  }
}

function readHead(r: In, shards: number): ChangeHead {
  if (!(r.b instanceof Uint8Array)) bad('not a byte array');
  const version = r.u8('version');
  if (version !== CHANGE_FORMAT_VERSION) bad(`unknown format version ${version}`);
  const kindByte = r.u8('kind');
  const kind = kindByte === KIND.entry ? 'entry' : kindByte === KIND.truncate ? 'truncate' : bad(`unknown kind ${kindByte}`);
  r.need(2, 'shard');
  const shard = (r.u8('shard') << 8) | r.u8('shard');
  if (shard >= shards) bad(`shard ${shard} is not below ${shards}`);
  const seq = r.varint('seq', 64);
  const origin = r.str('origin', 1, 64);
  if (!NODE_ID.test(origin)) bad(`origin ${JSON.stringify(origin)} is not a node id`);
  return { kind, origin, seq, shard, end: r.pos };
}

function decodeBody(r: In, head: ChangeHead): ChangeRecord {
  const { origin, seq, shard } = head;
  if (head.kind === 'entry') {
    const key = r.str('key', 1, MAX_KEY_BYTES);
    let entry: Entry;
    try {
      // The entry runs to the end; its decoder refuses trailing bytes and copies what it returns.
      entry = decodeEntry(r.b.subarray(r.pos));
    } catch (err) {
      return bad('corrupt entry', err);
    }
    return { kind: 'entry', origin, seq, shard, key, entry };
  }
  r.need(8, 'floor clock');
  const hlc: Hlc = decodeHlc(r.b, r.pos);
  r.pos += 8;
  const node = r.str('floor node', 0, MAX_STAMP_NODE_BYTES);
  if (r.remaining !== 0) bad(`${r.remaining} trailing bytes`);
  return { kind: 'truncate', origin, seq, shard, floor: { hlc, node } };
}

// ---------------------------------------------------------------------------------------------
// The write's clock

/**
 * The header that dates a change whose entry does not. A counter's or a set's stamp is its epoch
 * (the stamp of the entry it replaced: zero for a new key), and a set removal adds no stamp at
 * all, so the write's clock (what the replication lag is measured from) has to travel beside the
 * entry; a register's or tombstone's stamp is its write. A header rather than a field keeps
 * format version 1, which nodes of the previous release read (and they ignore the header), and
 * receivers parse headers only for the changes that have it. Value: `<wall>.<logical>`, decimal.
 */
export const WRITTEN_HEADER = 'MerkleKV-Written';

/** Whether a change's entry leaves its write undated, so that only WRITTEN_HEADER dates it. */
export function undatedByEntry(record: ChangeRecord): boolean {
  return record.kind === 'entry' && (record.entry.type === 'counter' || record.entry.type === 'set');
}

/** The WRITTEN_HEADER value of a change, when it needs one and its write's clock is known. */
export function writtenHeaderOf(record: ChangeRecord): string | undefined {
  if (record.kind !== 'entry' || record.written === undefined || !undatedByEntry(record)) return undefined;
  return `${record.written.wall}.${record.written.logical}`;
}

const WRITTEN_VALUE = /^(\d{1,15})\.(\d{1,5})$/;

/** The clock a WRITTEN_HEADER value names; undefined for anything else (a date is not worth refusing a change over). */
export function parseWrittenHeader(value: string | undefined): Hlc | undefined {
  const match = value === undefined ? null : WRITTEN_VALUE.exec(value);
  if (match === null) return undefined;
  const hlc = { wall: Number(match[1]), logical: Number(match[2]) };
  return isValidHlc(hlc) ? hlc : undefined;
}
