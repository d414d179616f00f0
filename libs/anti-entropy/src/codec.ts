/**
 * The session protocol's wire format: versioned, binary, strictly decoded. Every length is
 * checked against what is left before anything is allocated, so hostile bytes give an
 * AntiEntropyError('DECODE' or 'VERSION'), never a crash or a huge allocation.
 *
 *   message   = u8 version (1) | u8 kind | body
 *   str       = varint byte length | UTF-8 (well-formed)
 *   entry     = varint byte length | the CRDT codec's canonical bytes (#crdt encodeEntry)
 *   floor     = 0x00 (never truncated) | 0x01 entry (a tombstone stamped with the floor)
 *
 *   'H' hello         str node | u8 fanout | varint n | n x (root[32] | floor)
 *   'h' hello reply   str node | u8 clean | varint n | n x (u8 flags | [root[32]] | [floor] | [varint len | node])
 *                     flags: 1 = the shard differs (its root follows), 2 = a floor follows,
 *                     4 = the root node's canonical bytes follow (saves the descent's first round trip)
 *   'B' batch         varint n | n x op, op = u8 type | varint shard | body:
 *                       'S' varint len | #mst summary request     one level of differing nodes
 *                       'F' varint k | k x (str key | version)     fetch these keys' entries
 *                           version = u8 0 (we lack the key) | u8 1 + type (0-3) | floor-like tombstone entry of its stamp
 *                       'P' varint k | k x (str key | entry)       merge these entries
 *                       'R' u8 0 | u8 1 str after                  entries in key order after `after`
 *   'b' batch reply   varint n | n x result, in op order, result = u8 type | body:
 *                       'S' varint len | #mst summary response
 *                       'F' varint k | k x (u8 flags | [entry])    the first k keys asked; flags: 1 = the
 *                           peer's entry follows (it wins, or must be joined), 2 = send yours (it wins, or must be joined)
 *                       'P' varint changed
 *                       'R' varint k | k x (str key | entry) | u8 more
 *   'E' error         str code | str message
 *
 * Floors travel as tombstone entries so that the CRDT codec (and its validation) is the only
 * stamp codec. Ops and results are encoded one by one so that both sides can pack a message up
 * to a byte limit before they assemble it.
 */
import { compareStamps, decodeEntry, encodeEntry, type Entry, type EntryType, type Stamp, type Version, ZERO_STAMP } from '#crdt';
import {
  type DecodeLimits,
  decodeRequest as decodeSummaryRequest,
  decodeResponse as decodeSummaryResponse,
  encodeRequest as encodeSummaryRequest,
  encodeResponse as encodeSummaryResponse,
  decodeNode,
  HASH_BYTES,
  type NodeSummary,
  Reader,
  type SummaryRequest,
  type SummaryResponse,
  Writer,
} from '#mst';
import { ANTI_ENTROPY_ERROR_CODES, AntiEntropyError, type AntiEntropyErrorCode } from './errors.js';

export const PROTOCOL_VERSION = 1;

/** Compares all shard roots (and truncation floors) in one exchange. */
export interface HelloRequest {
  readonly kind: 'hello';
  readonly node: string;
  readonly fanout: number;
  readonly shards: readonly { readonly root: Uint8Array; readonly floor: Stamp }[];
}

export interface HelloShard {
  /** The responder's root, when it differs from the one the initiator sent. */
  readonly root: Uint8Array | null;
  readonly floor: Stamp;
  /** The responder's root node, when the shard differs and the initiator's tree is not empty. */
  readonly summary: NodeSummary | null;
}

export interface HelloReply {
  readonly kind: 'hello';
  readonly node: string;
  /** The responder's outbox and replication backlog were both empty when it answered. */
  readonly clean: boolean;
  readonly shards: readonly HelloShard[];
}

export type Op =
  | { readonly op: 'summaries'; readonly shard: number; readonly request: SummaryRequest }
  /** `versions[i]`: our version of `keys[i]`, null when we lack it; the peer answers only with what we lack. */
  | { readonly op: 'fetch'; readonly shard: number; readonly keys: readonly string[]; readonly versions: readonly (Version | null)[] }
  | { readonly op: 'push'; readonly shard: number; readonly entries: readonly (readonly [string, Entry])[] }
  | { readonly op: 'range'; readonly shard: number; readonly after: string | null };

export type OpResult =
  | { readonly op: 'summaries'; readonly response: SummaryResponse }
  /** One answer for each of the first `answers.length` keys asked; ask the rest again. */
  | { readonly op: 'fetch'; readonly answers: readonly FetchAnswer[] }
  | { readonly op: 'push'; readonly changed: number }
  | { readonly op: 'range'; readonly entries: readonly (readonly [string, Entry])[]; readonly more: boolean };

/** The peer's entry when ours does not beat it; `want`: ours does not lose to it, push it. */
export interface FetchAnswer {
  readonly entry: Entry | null;
  readonly want: boolean;
}

export interface BatchRequest {
  readonly kind: 'batch';
  readonly ops: readonly Op[];
}

export interface BatchReply {
  readonly kind: 'batch';
  readonly results: readonly OpResult[];
}

export interface ErrorReply {
  readonly kind: 'error';
  readonly code: AntiEntropyErrorCode;
  readonly message: string;
}

export type Request = HelloRequest | BatchRequest;
export type Reply = HelloReply | BatchReply | ErrorReply;

/** Limits applied while decoding untrusted bytes. */
export interface CodecLimits {
  /** Longest key accepted. Default 1 MiB. */
  readonly maxKeyBytes?: number;
  /** Most node references in one summary request. Default 65,536. */
  readonly maxRefs?: number;
}

const KIND = { hello: 0x48, helloReply: 0x68, batch: 0x42, batchReply: 0x62, error: 0x45 } as const; // H h B b E
const OP = { summaries: 0x53, fetch: 0x46, push: 0x50, range: 0x52 } as const; // S F P R
const OP_NAMES = new Map<number, Op['op']>(Object.entries(OP).map(([name, byte]) => [byte, name as Op['op']]));
/** Entry types by their wire index (the CRDT codec's kinds). */
const TYPES: readonly EntryType[] = ['register', 'tombstone', 'counter', 'set'];
const FLAG_DIFFERS = 1;
const FLAG_FLOOR = 2;
const FLAG_SUMMARY = 4;
const DEFAULT_MAX_KEY_BYTES = 1 << 20;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// --- writing ----------------------------------------------------------------------------------

function start(kind: number, size: number): Writer {
  const w = new Writer(size);
  w.u8(PROTOCOL_VERSION);
  w.u8(kind);
  return w;
}

function writeBlob(w: Writer, bytes: Uint8Array): void {
  w.varint(bytes.length);
  w.bytes(bytes);
}

const writeStr = (w: Writer, text: string): void => writeBlob(w, utf8.encode(text));

const writeStamp = (w: Writer, stamp: Stamp): void => writeBlob(w, encodeEntry({ type: 'tombstone', stamp }));

function writeFloor(w: Writer, floor: Stamp): void {
  if (compareStamps(floor, ZERO_STAMP) === 0) w.u8(0);
  else {
    w.u8(1);
    writeStamp(w, floor);
  }
}

function writePairs(w: Writer, pairs: readonly (readonly [string, Entry])[]): void {
  w.varint(pairs.length);
  for (const [key, entry] of pairs) {
    writeStr(w, key);
    writeBlob(w, encodeEntry(entry));
  }
}

function writeRoot(w: Writer, root: Uint8Array): void {
  if (root.length !== HASH_BYTES) throw new AntiEntropyError('PROTOCOL', `a root hash is ${HASH_BYTES} bytes`);
  w.bytes(root);
}

export function encodeHello(hello: HelloRequest): Uint8Array {
  const w = start(KIND.hello, 64 + hello.shards.length * 40);
  writeStr(w, hello.node);
  w.u8(hello.fanout);
  w.varint(hello.shards.length);
  for (const shard of hello.shards) {
    writeRoot(w, shard.root);
    writeFloor(w, shard.floor);
  }
  return w.finish();
}

export function encodeHelloReply(reply: HelloReply): Uint8Array {
  const w = start(KIND.helloReply, 64 + reply.shards.length * 8);
  writeStr(w, reply.node);
  w.u8(reply.clean ? 1 : 0);
  w.varint(reply.shards.length);
  for (const shard of reply.shards) {
    const hasFloor = compareStamps(shard.floor, ZERO_STAMP) !== 0;
    w.u8((shard.root ? FLAG_DIFFERS : 0) | (hasFloor ? FLAG_FLOOR : 0) | (shard.root && shard.summary ? FLAG_SUMMARY : 0));
    if (shard.root) writeRoot(w, shard.root);
    if (hasFloor) writeStamp(w, shard.floor);
    if (shard.root && shard.summary) writeBlob(w, shard.summary.bytes);
  }
  return w.finish();
}

/** One op of a batch, encoded alone so that the sender can pack ops up to a message size. */
export function encodeOp(op: Op): Uint8Array {
  const w = new Writer(op.op === 'summaries' ? 16 + op.request.refs.length * 48 : 64);
  w.u8(OP[op.op]);
  w.varint(op.shard);
  switch (op.op) {
    case 'summaries':
      writeBlob(w, encodeSummaryRequest(op.request));
      break;
    case 'fetch':
      w.varint(op.keys.length);
      op.keys.forEach((key, i) => {
        writeStr(w, key);
        const version = op.versions[i] ?? null;
        if (version === null) w.u8(0);
        else {
          w.u8(1 + TYPES.indexOf(version.type));
          writeStamp(w, version.stamp);
        }
      });
      break;
    case 'push':
      writePairs(w, op.entries);
      break;
    case 'range':
      if (op.after === null) w.u8(0);
      else {
        w.u8(1);
        writeStr(w, op.after);
      }
      break;
  }
  return w.finish();
}

/** One result of a batch reply, encoded alone so that the responder can stop at its byte limit. */
export function encodeResult(result: OpResult): Uint8Array {
  const w = new Writer(64);
  w.u8(OP[result.op]);
  switch (result.op) {
    case 'summaries':
      writeBlob(w, encodeSummaryResponse(result.response));
      break;
    case 'fetch':
      w.varint(result.answers.length);
      for (const { entry, want } of result.answers) {
        w.u8((entry === null ? 0 : 1) | (want ? 2 : 0));
        if (entry !== null) writeBlob(w, encodeEntry(entry));
      }
      break;
    case 'push':
      w.varint(result.changed);
      break;
    case 'range':
      writePairs(w, result.entries);
      w.u8(result.more ? 1 : 0);
      break;
  }
  return w.finish();
}

function assemble(kind: number, parts: readonly Uint8Array[]): Uint8Array {
  let size = 8;
  for (const part of parts) size += part.length;
  const w = start(kind, size);
  w.varint(parts.length);
  for (const part of parts) w.bytes(part);
  return w.finish();
}

/** A batch request from ops encoded with {@link encodeOp}. */
export const encodeBatch = (ops: readonly Uint8Array[]): Uint8Array => assemble(KIND.batch, ops);

/** A batch reply from results encoded with {@link encodeResult}, in op order. */
export const encodeBatchReply = (results: readonly Uint8Array[]): Uint8Array => assemble(KIND.batchReply, results);

export function encodeRequest(request: Request): Uint8Array {
  return request.kind === 'hello' ? encodeHello(request) : encodeBatch(request.ops.map(encodeOp));
}

export function encodeReply(reply: Reply): Uint8Array {
  switch (reply.kind) {
    case 'hello':
      return encodeHelloReply(reply);
    case 'batch':
      return encodeBatchReply(reply.results.map(encodeResult));
    case 'error': {
      const w = start(KIND.error, 32 + reply.message.length);
      writeStr(w, reply.code);
      // Bounded, so that the peer's decoder (which takes at most 4 KiB) always reads it.
      writeStr(w, reply.message.slice(0, 1000));
      return w.finish();
    }
  }
}

// --- reading ----------------------------------------------------------------------------------

/** Runs a decoder and turns every failure of the layers below into this library's DECODE error. */
function strictly<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof AntiEntropyError) throw err;
    // MstError (framing, nodes), CrdtError (entries), TypeError (UTF-8): all mean bad bytes.
    throw new AntiEntropyError('DECODE', `${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

function readHeader(r: Reader): number {
  const version = r.u8();
  if (version !== PROTOCOL_VERSION) throw new AntiEntropyError('VERSION', `protocol version ${version} is not spoken here (this node speaks ${PROTOCOL_VERSION})`);
  return r.u8();
}

function readBlob(r: Reader, max: number, field: string): Uint8Array {
  return r.bytes(r.varint(Math.min(max, r.remaining), field));
}

function readStr(r: Reader, max: number, field: string): string {
  // The fatal decoder throws TypeError on malformed UTF-8, which `strictly` reports as DECODE.
  return strictUtf8.decode(readBlob(r, max, field));
}

function readEntry(r: Reader): Entry {
  return decodeEntry(readBlob(r, r.remaining, 'entry length'));
}

/** A stamp, carried as a tombstone entry so that the CRDT codec stays the one stamp codec. */
function readStamp(r: Reader): Stamp {
  const entry = readEntry(r);
  if (entry.type !== 'tombstone') r.fail('a floor is carried as a tombstone');
  return entry.stamp;
}

function readPairs(r: Reader, maxKey: number): [string, Entry][] {
  const count = r.varint(Math.floor(r.remaining / 2), 'entry count');
  const pairs: [string, Entry][] = [];
  for (let i = 0; i < count; i++) pairs.push([readStr(r, maxKey, 'key length'), readEntry(r)]);
  return pairs;
}

/** Most shards a message may name (the configured maximum shard count). */
const MAX_SHARDS = 4096;

function readShard(r: Reader): number {
  return r.varint(MAX_SHARDS - 1, 'shard');
}

function readOp(r: Reader, limits: CodecLimits, maxKey: number): Op {
  const type = OP_NAMES.get(r.u8());
  const shard = readShard(r);
  switch (type) {
    case 'summaries':
      return { op: 'summaries', shard, request: decodeSummaryRequest(readBlob(r, r.remaining, 'summary request length'), limits) };
    case 'fetch': {
      const count = r.varint(Math.floor(r.remaining / 2), 'key count');
      const keys: string[] = [];
      const versions: (Version | null)[] = [];
      for (let i = 0; i < count; i++) {
        keys.push(readStr(r, maxKey, 'key length'));
        const tag = r.u8();
        const type = TYPES[tag - 1];
        if (tag === 0) versions.push(null);
        else if (type === undefined) r.fail(`bad version tag ${tag}`);
        else versions.push({ type, stamp: readStamp(r) });
      }
      return { op: 'fetch', shard, keys, versions };
    }
    case 'push':
      return { op: 'push', shard, entries: readPairs(r, maxKey) };
    case 'range': {
      const flag = r.u8();
      if (flag > 1) r.fail(`bad range flag ${flag}`);
      return { op: 'range', shard, after: flag === 0 ? null : readStr(r, maxKey, 'key length') };
    }
    case undefined:
      return r.fail('unknown op');
  }
}

function readResult(r: Reader, limits: CodecLimits, maxKey: number): OpResult {
  const type = OP_NAMES.get(r.u8());
  switch (type) {
    case 'summaries':
      return { op: 'summaries', response: decodeSummaryResponse(readBlob(r, r.remaining, 'summary response length').slice(), limits) };
    case 'fetch': {
      const count = r.varint(r.remaining, 'answer count');
      const answers: FetchAnswer[] = [];
      for (let i = 0; i < count; i++) {
        const flags = r.u8();
        if (flags > 3) r.fail(`bad answer flags ${flags}`);
        answers.push({ entry: (flags & 1) === 0 ? null : readEntry(r), want: (flags & 2) !== 0 });
      }
      return { op: 'fetch', answers };
    }
    case 'push':
      return { op: 'push', changed: r.varint(0xffff_ffff, 'changed') };
    case 'range': {
      const entries = readPairs(r, maxKey);
      const more = r.u8();
      if (more > 1) r.fail(`bad more flag ${more}`);
      return { op: 'range', entries, more: more === 1 };
    }
    case undefined:
      return r.fail('unknown op');
  }
}

/** Decodes a request from a peer: a hello or a batch. */
export function decodeRequest(bytes: Uint8Array, limits: CodecLimits = {}): Request {
  return strictly('session request', () => {
    const r = new Reader(bytes, 'session request');
    const maxKey = limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
    const kind = readHeader(r);
    let request: Request;
    if (kind === KIND.hello) {
      const node = readStr(r, 64, 'node id length');
      const fanout = r.u8();
      const count = r.varint(Math.min(MAX_SHARDS, Math.floor(r.remaining / (HASH_BYTES + 1))), 'shard count');
      const shards: { root: Uint8Array; floor: Stamp }[] = [];
      for (let i = 0; i < count; i++) {
        const root = r.bytes(HASH_BYTES).slice();
        const flag = r.u8();
        if (flag > 1) r.fail(`bad floor flag ${flag}`);
        shards.push({ root, floor: flag === 0 ? ZERO_STAMP : readStamp(r) });
      }
      request = { kind: 'hello', node, fanout, shards };
    } else if (kind === KIND.batch) {
      const count = r.varint(Math.floor(r.remaining / 2), 'op count');
      const ops: Op[] = [];
      for (let i = 0; i < count; i++) ops.push(readOp(r, limits, maxKey));
      request = { kind: 'batch', ops };
    } else {
      return r.fail(`unexpected request kind ${kind}`);
    }
    r.end();
    return request;
  });
}

/** Decodes a peer's reply: a hello reply, a batch reply or an error. */
export function decodeReply(bytes: Uint8Array, limits: CodecLimits = {}): Reply {
  return strictly('session reply', () => {
    const r = new Reader(bytes, 'session reply');
    const maxKey = limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
    const nodeLimits: DecodeLimits = { maxKeyBytes: maxKey, ...(limits.maxRefs === undefined ? {} : { maxRefs: limits.maxRefs }) };
    const kind = readHeader(r);
    let reply: Reply;
    if (kind === KIND.helloReply) {
      const node = readStr(r, 64, 'node id length');
      const clean = r.u8();
      if (clean > 1) r.fail(`bad clean flag ${clean}`);
      const count = r.varint(Math.min(MAX_SHARDS, r.remaining), 'shard count');
      const shards: HelloShard[] = [];
      for (let i = 0; i < count; i++) {
        const flags = r.u8();
        if (flags > 7 || ((flags & FLAG_SUMMARY) !== 0 && (flags & FLAG_DIFFERS) === 0)) r.fail(`bad shard flags ${flags}`);
        const root = (flags & FLAG_DIFFERS) !== 0 ? r.bytes(HASH_BYTES).slice() : null;
        const floor = (flags & FLAG_FLOOR) !== 0 ? readStamp(r) : ZERO_STAMP;
        const summary = (flags & FLAG_SUMMARY) !== 0 ? decodeNode(readBlob(r, r.remaining, 'node length').slice(), nodeLimits) : null;
        shards.push({ root, floor, summary });
      }
      reply = { kind: 'hello', node, clean: clean === 1, shards };
    } else if (kind === KIND.batchReply) {
      const count = r.varint(Math.floor(r.remaining / 2), 'result count');
      const results: OpResult[] = [];
      for (let i = 0; i < count; i++) results.push(readResult(r, limits, maxKey));
      reply = { kind: 'batch', results };
    } else if (kind === KIND.error) {
      const code = readStr(r, 64, 'code length');
      const message = readStr(r, 4096, 'message length');
      const known = (ANTI_ENTROPY_ERROR_CODES as readonly string[]).includes(code);
      reply = known ? { kind: 'error', code: code as AntiEntropyErrorCode, message } : { kind: 'error', code: 'PROTOCOL', message: `${code}: ${message}` };
    } else {
      return r.fail(`unexpected reply kind ${kind}`);
    }
    r.end();
    return reply;
  });
}
