/**
 * The session protocol's wire format: versioned, binary, strictly decoded. Every length is
 * checked against what is left before anything is allocated, so hostile bytes give an
 * AntiEntropyError('DECODE' or 'VERSION'), never a crash or a huge allocation.
 *
 *   message   = u8 version (1 to 4) | u8 kind | body; a reply has its request's version, an
 *               error reply is always version 1 (every release reads it)
 *   str       = varint byte length | UTF-8 (well-formed)
 *   entry     = varint byte length | the CRDT codec's canonical bytes (#crdt encodeEntry)
 *   floor     = 0x00 (never truncated) | 0x01 entry (a tombstone stamped with the floor)
 *
 *   'H' hello         str node | u8 fanout | [v2: u32 salt] | varint n | n x (root[32] | floor)
 *   'h' hello reply   str node | u8 clean | varint n | n x (u8 flags | [root[32]] | [floor] | [top])
 *                     flags: 1 = the shard differs (its root follows), 2 = a floor follows,
 *                     4 = the top follows (saves the first round trip of the comparison):
 *                     v1: varint len | the root node's canonical bytes
 *                     v2: u8 layer | varint n | bounds(n) | (n + 1) x fp[6], the fingerprints
 *                         of the n + 1 ranges the root's keys cut the shard into
 *   bound     = varint length | key bytes
 *   bounds(n) = n x (varint shared | bound): ascending keys, each as the length of the longest
 *               prefix it shares with the previous one and the bytes after it
 *   'B' batch         varint n | n x op, op = u8 type | varint shard | body:
 *                       'S' varint len | #mst summary request     one level of differing nodes
 *                       'F' varint k | k x (str key | version)     fetch these keys' entries
 *                           version = u8 0 (we lack the key) | u8 1 + type (0-3) | floor-like tombstone entry of its stamp
 *                       'P' varint k | k x (str key | entry)       merge these entries
 *                       'R' u8 0 | u8 1 str after                  entries in key order after `after`
 *                     v2 only:
 *                       'I' root[32] | u32 salt | varint cells | spans    a sketch of the ranges that differ
 *                           spans = varint s | s x (opt lo | opt hi | varint j | bounds(j) | (j + 1) x fp[6]):
 *                           each span [lo, hi) cut by j keys into j + 1 ranges with our fingerprints
 *                           (opt = u8 0 | u8 1 bound); cells 0 = the responder sizes the sketch
 *                     v3 only:
 *                       'J' as 'I' | u8 layer | per range (r of them, in order) varint k | k x u32 piece fp:
 *                           each range cut further by our keys on `layer` or above (#mst pieceFingerprints)
 *                       'K' root[32] | u32 salt | varint s | s x (opt lo | opt hi | varint k | k x u32 keyFp)
 *                           the entries of the keys with these fingerprints in [lo, hi)
 *                       'V'                                         this shard's root, after the ops before it
 *                     v4 only:
 *                       'L' as 'J', the spans without fingerprints   a sketch of ranges known to differ (the
 *                           differing pieces of an 'N' answer), cut into pieces
 *   'b' batch reply   varint n | n x result, in op order, result = u8 type | body:
 *                       'S' varint len | #mst summary response
 *                       'F' varint k | k x (u8 flags | [entry])    the first k keys asked; flags: 1 = the
 *                           peer's entry follows (it wins, or must be joined), 2 = send yours (it wins, or must be joined)
 *                       'P' varint changed
 *                       'R' varint k | k x (str key | entry) | u8 more
 *                       'I' varint m | bitmap[ceil(m / 8)] of the ranges that differ | varint items | sketch
 *                       'J' as 'I' | per differing range: varint 0 (cut into another number of pieces
 *                           here: all of it is sketched) or varint k + 1 | bitmap[ceil(k / 8)] of the pieces that differ
 *                       'K' varint k | k x (str key | entry)
 *                       'V' root[32]
 *                     v4 only:
 *                       'D'                                         in place of a sketch or resolve result: the
 *                           responder put the op off (its batch had worked long enough), ask it again
 *                       'N' as 'J' without items and sketch         in place of a 'J' result: most of the pieces
 *                           differ, cut the differing ones again a layer lower ('L') rather than sketch them
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
  RANGE_FINGERPRINT_BYTES,
  type NodeSummary,
  Reader,
  type SummaryRequest,
  type SummaryResponse,
  Writer,
} from '#mst';
import { ANTI_ENTROPY_ERROR_CODES, AntiEntropyError, type AntiEntropyErrorCode } from './errors.js';
import { MAX_KEY_FINGERPRINT, MAX_SKETCH_RANGES, Sketch } from './sketch.js';

/** The newest session protocol this node speaks; it answers every version from 1 on. */
export const PROTOCOL_VERSION = 4;
export type ProtocolVersion = 1 | 2 | 3 | 4;
const FINGERPRINT_BYTES = RANGE_FINGERPRINT_BYTES;

/** Compares all shard roots (and truncation floors) in one exchange. */
export interface HelloRequest {
  readonly kind: 'hello';
  readonly version: ProtocolVersion;
  readonly node: string;
  readonly fanout: number;
  /** Salts the session's fingerprints (v2; 0 in v1), so that a collision does not repeat in the next session. */
  readonly salt: number;
  readonly shards: readonly { readonly root: Uint8Array; readonly floor: Stamp }[];
}

export interface HelloShard {
  /** The responder's root, when it differs from the one the initiator sent. */
  readonly root: Uint8Array | null;
  readonly floor: Stamp;
  /** v1: the responder's root node, when the shard differs and the initiator's tree is not empty. */
  readonly summary: NodeSummary | null;
  /** v2: the ranges the responder's root keys cut the shard into, with their fingerprints (same condition). */
  readonly top: TopRanges | null;
}

/** Keys k_1..k_n cut a shard into [-inf, k_1), [k_1, k_2), ..., [k_n, +inf): n + 1 fingerprints. */
export interface TopRanges {
  readonly layer: number;
  readonly keys: readonly Uint8Array[];
  readonly fingerprints: readonly Uint8Array[];
}

/** [lo, hi) cut by `cuts` into cuts.length + 1 ranges, each with the sender's fingerprint. */
export interface Span {
  readonly lo: Uint8Array | null;
  readonly hi: Uint8Array | null;
  readonly cuts: readonly Uint8Array[];
  readonly fingerprints: readonly Uint8Array[];
}

/**
 * v3: each range of a sketch op cut further by the sender's keys on `layer` or above, as the
 * 32-bit fingerprints of its pieces (#mst pieceFingerprints), one array a range in range order.
 */
export interface Pieces {
  readonly layer: number;
  readonly fingerprints: readonly Uint32Array[];
}

/** Keys in [lo, hi) named by their salted 24-bit fingerprints. */
export interface FingerprintSpan {
  readonly lo: Uint8Array | null;
  readonly hi: Uint8Array | null;
  readonly keyFingerprints: readonly number[];
}

export interface HelloReply {
  readonly kind: 'hello';
  readonly version: ProtocolVersion;
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
  | { readonly op: 'range'; readonly shard: number; readonly after: string | null }
  /** `known` (v4): the ranges are known to differ, pieces an 'N' answer named; their spans carry no fingerprints, and pieces are required. */
  | {
      readonly op: 'sketch';
      readonly shard: number;
      readonly root: Uint8Array;
      readonly salt: number;
      readonly cells: number;
      readonly spans: readonly Span[];
      readonly pieces?: Pieces;
      readonly known?: true;
    }
  | { readonly op: 'resolve'; readonly shard: number; readonly root: Uint8Array; readonly salt: number; readonly spans: readonly FingerprintSpan[] }
  | { readonly op: 'verify'; readonly shard: number };

export type OpResult =
  | { readonly op: 'summaries'; readonly response: SummaryResponse }
  /** One answer for each of the first `answers.length` keys asked; ask the rest again. */
  | { readonly op: 'fetch'; readonly answers: readonly FetchAnswer[] }
  | { readonly op: 'push'; readonly changed: number }
  | { readonly op: 'range'; readonly entries: readonly (readonly [string, Entry])[]; readonly more: boolean }
  /** `differs[i]`: range i of the op (spans' ranges in order) differs; the sketch covers those, `items` of them here. */
  | {
      readonly op: 'sketch';
      readonly differs: readonly boolean[];
      readonly items: number;
      readonly sketch: Sketch;
      /** v3, when the op had pieces: for each differing range in order, which of its pieces differ, or null when the responder cuts it into another number of pieces (all of it is sketched). */
      readonly pieces?: readonly (readonly boolean[] | null)[];
    }
  | { readonly op: 'resolve'; readonly entries: readonly (readonly [string, Entry])[] }
  | { readonly op: 'verify'; readonly root: Uint8Array }
  /** v4, for a sketch or resolve op: put off by the responder, to be asked again. */
  | { readonly op: 'deferred' }
  /** v4, for a sketch op with pieces: most pieces differ; as a sketch result's `differs` and `pieces`, without a sketch. */
  | { readonly op: 'refine'; readonly differs: readonly boolean[]; readonly pieces: readonly (readonly boolean[] | null)[] };

/** The peer's entry when ours does not beat it; `want`: ours does not lose to it, push it. */
export interface FetchAnswer {
  readonly entry: Entry | null;
  readonly want: boolean;
}

export interface BatchRequest {
  readonly kind: 'batch';
  readonly version: ProtocolVersion;
  readonly ops: readonly Op[];
}

export interface BatchReply {
  readonly kind: 'batch';
  readonly version: ProtocolVersion;
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
const OP = { summaries: 0x53, fetch: 0x46, push: 0x50, range: 0x52, sketch: 0x49, resolve: 0x4b, verify: 0x56 } as const; // S F P R I K V
/** Ops a version-1 peer knows. */
const V1_OPS: ReadonlySet<Op['op']> = new Set(['summaries', 'fetch', 'push', 'range']);
const OP_NAMES = new Map<number, Op['op']>(Object.entries(OP).map(([name, byte]) => [byte, name as Op['op']]));
/** A sketch op, or its result, with pieces (v3). */
const SKETCH_WITH_PIECES = 0x4a; // J
/** The result of an op the responder put off (v4). */
const DEFERRED = 0x44; // D
/** A sketch op of ranges known to differ, with pieces (v4). */
const SKETCH_KNOWN = 0x4c; // L
/** The answer to a sketch op whose pieces mostly differ (v4). */
const REFINE = 0x4e; // N
/** Most pieces one sketch op may carry. */
export const MAX_PIECES = 1 << 17;
/** Entry types by their wire index (the CRDT codec's kinds). */
const TYPES: readonly EntryType[] = ['register', 'tombstone', 'counter', 'set'];
const FLAG_DIFFERS = 1;
const FLAG_FLOOR = 2;
const FLAG_SUMMARY = 4;
const DEFAULT_MAX_KEY_BYTES = 1 << 20;

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

// --- writing ----------------------------------------------------------------------------------

function start(kind: number, size: number, version: ProtocolVersion): Writer {
  const w = new Writer(size);
  w.u8(version);
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
  const w = start(KIND.hello, 64 + hello.shards.length * 40, hello.version);
  writeStr(w, hello.node);
  w.u8(hello.fanout);
  if (hello.version >= 2) w.u32(hello.salt);
  w.varint(hello.shards.length);
  for (const shard of hello.shards) {
    writeRoot(w, shard.root);
    writeFloor(w, shard.floor);
  }
  return w.finish();
}

export function encodeHelloReply(reply: HelloReply): Uint8Array {
  const w = start(KIND.helloReply, 64 + reply.shards.length * 8, reply.version);
  writeStr(w, reply.node);
  w.u8(reply.clean ? 1 : 0);
  w.varint(reply.shards.length);
  for (const shard of reply.shards) {
    const hasFloor = compareStamps(shard.floor, ZERO_STAMP) !== 0;
    const top = reply.version === 1 ? shard.summary : shard.top;
    w.u8((shard.root ? FLAG_DIFFERS : 0) | (hasFloor ? FLAG_FLOOR : 0) | (shard.root && top ? FLAG_SUMMARY : 0));
    if (shard.root) writeRoot(w, shard.root);
    if (hasFloor) writeStamp(w, shard.floor);
    if (shard.root && shard.summary && reply.version === 1) writeBlob(w, shard.summary.bytes);
    if (shard.root && shard.top && reply.version >= 2) writeTop(w, shard.top);
  }
  return w.finish();
}

function writeFingerprint(w: Writer, fp: Uint8Array): void {
  if (fp.length !== FINGERPRINT_BYTES) throw new AntiEntropyError('PROTOCOL', `a range fingerprint is ${FINGERPRINT_BYTES} bytes`);
  w.bytes(fp);
}

function writeOptBound(w: Writer, bound: Uint8Array | null): void {
  if (bound === null) w.u8(0);
  else {
    w.u8(1);
    writeBlob(w, bound);
  }
}

/**
 * Ascending keys, front-coded: each as the bytes it shares with the one before, then the rest
 * (neighbouring cuts of one range share most of their bytes: ~8 bytes a 24-byte key).
 */
function writeSortedBounds(w: Writer, bounds: readonly Uint8Array[]): void {
  let previous: Uint8Array = new Uint8Array(0);
  for (const bound of bounds) {
    let shared = 0;
    while (shared < bound.length && shared < previous.length && bound[shared] === previous[shared]) shared++;
    w.varint(shared);
    writeBlob(w, bound.subarray(shared));
    previous = bound;
  }
}

function readSortedBounds(r: Reader, count: number, maxKey: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let previous: Uint8Array = new Uint8Array(0);
  for (let i = 0; i < count; i++) {
    const shared = r.varint(previous.length, 'shared prefix');
    const rest = readBlob(r, maxKey - shared, 'bound length');
    const bound = new Uint8Array(shared + rest.length);
    bound.set(previous.subarray(0, shared));
    bound.set(rest, shared);
    // Front coding is canonical only with the longest shared prefix.
    if (shared < previous.length && rest.length > 0 && rest[0] === previous[shared]) r.fail('a bound shares more than it says');
    out.push(bound);
    previous = bound;
  }
  return out;
}

function writeTop(w: Writer, top: TopRanges): void {
  if (top.fingerprints.length !== top.keys.length + 1) throw new AntiEntropyError('PROTOCOL', 'n keys cut n + 1 ranges');
  w.u8(top.layer);
  w.varint(top.keys.length);
  writeSortedBounds(w, top.keys);
  for (const fp of top.fingerprints) writeFingerprint(w, fp);
}

/** One op of a batch, encoded alone so that the sender can pack ops up to a message size. */
export function encodeOp(op: Op): Uint8Array {
  const w = new Writer(op.op === 'summaries' ? 16 + op.request.refs.length * 48 : op.op === 'sketch' ? 64 + op.spans.length * 64 : 64);
  w.u8(op.op === 'sketch' && op.known === true ? SKETCH_KNOWN : op.op === 'sketch' && op.pieces !== undefined ? SKETCH_WITH_PIECES : OP[op.op]);
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
    case 'sketch':
      writeRoot(w, op.root);
      w.u32(op.salt);
      w.varint(op.cells);
      w.varint(op.spans.length);
      if (op.known === true && op.pieces === undefined) throw new AntiEntropyError('PROTOCOL', 'a sketch of ranges known to differ is cut into pieces');
      for (const span of op.spans) {
        if (span.fingerprints.length !== (op.known === true ? 0 : span.cuts.length + 1)) throw new AntiEntropyError('PROTOCOL', 'j cuts make j + 1 ranges');
        writeOptBound(w, span.lo);
        writeOptBound(w, span.hi);
        w.varint(span.cuts.length);
        writeSortedBounds(w, span.cuts);
        for (const fp of span.fingerprints) writeFingerprint(w, fp);
      }
      if (op.pieces !== undefined) {
        w.u8(op.pieces.layer);
        for (const fps of op.pieces.fingerprints) {
          w.varint(fps.length);
          for (const fp of fps) w.u32(fp);
        }
      }
      break;
    case 'resolve':
      writeRoot(w, op.root);
      w.u32(op.salt);
      w.varint(op.spans.length);
      for (const span of op.spans) {
        writeOptBound(w, span.lo);
        writeOptBound(w, span.hi);
        w.varint(span.keyFingerprints.length);
        for (const fp of span.keyFingerprints) {
          w.u32(fp);
        }
      }
      break;
    case 'verify':
      break;
  }
  return w.finish();
}

/** One result of a batch reply, encoded alone so that the responder can stop at its byte limit. */
export function encodeResult(result: OpResult): Uint8Array {
  const w = new Writer(64);
  w.u8(result.op === 'deferred' ? DEFERRED : result.op === 'refine' ? REFINE : result.op === 'sketch' && result.pieces !== undefined ? SKETCH_WITH_PIECES : OP[result.op]);
  switch (result.op) {
    case 'deferred':
      break;
    case 'refine':
      w.varint(result.differs.length);
      w.bytes(toBitmap(result.differs));
      writePieceBits(w, result.pieces);
      break;
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
    case 'sketch': {
      w.varint(result.differs.length);
      w.bytes(toBitmap(result.differs));
      w.varint(result.items);
      result.sketch.encode(w);
      writePieceBits(w, result.pieces ?? []);
      break;
    }
    case 'resolve':
      writePairs(w, result.entries);
      break;
    case 'verify':
      writeRoot(w, result.root);
      break;
  }
  return w.finish();
}

/** Per differing range: 0 (cut otherwise here), or 1 + its piece count and a bitmap of those that differ. */
function writePieceBits(w: Writer, pieces: readonly (readonly boolean[] | null)[]): void {
  for (const bits of pieces) {
    if (bits === null) w.varint(0);
    else {
      w.varint(bits.length + 1);
      w.bytes(toBitmap(bits));
    }
  }
}

/** What writePieceBits wrote for the differing ones of `differs`. */
function readPieceBits(r: Reader, differs: readonly boolean[]): (boolean[] | null)[] {
  const cut: (boolean[] | null)[] = [];
  let total = 0;
  for (const d of differs) {
    if (!d) continue;
    const k = r.varint(Math.min(MAX_PIECES - total, r.remaining * 8) + 1, 'piece count');
    total += k;
    cut.push(k === 0 ? null : readBitmap(r, k - 1));
  }
  return cut;
}

function toBitmap(bits: readonly boolean[]): Uint8Array {
  const bitmap = new Uint8Array(Math.ceil(bits.length / 8));
  bits.forEach((d, i) => d && (bitmap[i >>> 3]! |= 1 << (i & 7)));
  return bitmap;
}

function readBitmap(r: Reader, count: number): boolean[] {
  const bitmap = r.bytes(Math.ceil(count / 8));
  if (count % 8 !== 0 && bitmap[bitmap.length - 1]! >>> count % 8 !== 0) r.fail('bits set past the end');
  return Array.from({ length: count }, (_, i) => (bitmap[i >>> 3]! & (1 << (i & 7))) !== 0);
}

/**
 * The op or result type byte: a sketch with pieces is a sketch, which v3 on speaks; a sketch of
 * ranges known to differ, and the deferred and refine results, are v4 on.
 */
function readType(r: Reader, version: ProtocolVersion): { type: Op['op'] | 'deferred' | 'refine' | undefined; pieces: boolean; known: boolean } {
  const byte = r.u8();
  const v4 = byte === DEFERRED ? 'deferred' : byte === REFINE ? 'refine' : byte === SKETCH_KNOWN ? 'sketch' : undefined;
  if (v4 !== undefined) {
    if (version < 4) r.fail(`a ${v4 === 'sketch' ? 'sketch of ranges known to differ' : `${v4} result`} before version 4`);
    return { type: v4, pieces: byte === SKETCH_KNOWN, known: byte === SKETCH_KNOWN };
  }
  if (byte !== SKETCH_WITH_PIECES) return { type: OP_NAMES.get(byte), pieces: false, known: false };
  if (version < 3) r.fail('a sketch with pieces before version 3');
  return { type: 'sketch', pieces: true, known: false };
}

function assemble(kind: number, parts: readonly Uint8Array[], version: ProtocolVersion): Uint8Array {
  let size = 8;
  for (const part of parts) size += part.length;
  const w = start(kind, size, version);
  w.varint(parts.length);
  for (const part of parts) w.bytes(part);
  return w.finish();
}

/** A batch request from ops encoded with {@link encodeOp}. */
export const encodeBatch = (ops: readonly Uint8Array[], version: ProtocolVersion): Uint8Array => assemble(KIND.batch, ops, version);

/** A batch reply from results encoded with {@link encodeResult}, in op order. */
export const encodeBatchReply = (results: readonly Uint8Array[], version: ProtocolVersion): Uint8Array => assemble(KIND.batchReply, results, version);

export function encodeRequest(request: Request): Uint8Array {
  return request.kind === 'hello' ? encodeHello(request) : encodeBatch(request.ops.map(encodeOp), request.version);
}

export function encodeReply(reply: Reply): Uint8Array {
  switch (reply.kind) {
    case 'hello':
      return encodeHelloReply(reply);
    case 'batch':
      return encodeBatchReply(reply.results.map(encodeResult), reply.version);
    case 'error': {
      const w = start(KIND.error, 32 + reply.message.length, 1);
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

function readHeader(r: Reader): { version: ProtocolVersion; kind: number } {
  const version = r.u8();
  if (version < 1 || version > PROTOCOL_VERSION) {
    throw new AntiEntropyError('VERSION', `protocol version ${version} is not spoken here (this node speaks 1 to ${PROTOCOL_VERSION})`);
  }
  return { version: version as ProtocolVersion, kind: r.u8() };
}

function readOptBound(r: Reader, maxKey: number): Uint8Array | null {
  const flag = r.u8();
  if (flag > 1) r.fail(`bad bound flag ${flag}`);
  return flag === 0 ? null : readBlob(r, maxKey, 'bound length').slice();
}

function readFingerprints(r: Reader, count: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < count; i++) out.push(r.bytes(FINGERPRINT_BYTES).slice());
  return out;
}

/** Most ranges one sketch op may name (the sketch's range index is 12 bits). */
const MAX_RANGES = MAX_SKETCH_RANGES;

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

function readOp(r: Reader, limits: CodecLimits, maxKey: number, version: ProtocolVersion): Op {
  const { type, pieces, known } = readType(r, version);
  if (type === 'deferred' || type === 'refine') return r.fail(`a ${type} result in place of an op`);
  if (type !== undefined && version === 1 && !V1_OPS.has(type)) r.fail(`a ${type} op in a version 1 batch`);
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
    case 'sketch': {
      const root = r.bytes(HASH_BYTES).slice();
      const salt = r.u32();
      const cells = r.varint(0xffff_ffff, 'cells');
      const count = r.varint(Math.floor(r.remaining / (2 + FINGERPRINT_BYTES + 1)), 'span count');
      const spans: Span[] = [];
      let ranges = 0;
      for (let i = 0; i < count; i++) {
        const lo = readOptBound(r, maxKey);
        const hi = readOptBound(r, maxKey);
        const cuts: Uint8Array[] = [];
        const j = r.varint(Math.floor(r.remaining / (1 + FINGERPRINT_BYTES)), 'cut count');
        ranges += j + 1;
        if (ranges > MAX_RANGES) r.fail(`more than ${MAX_RANGES} ranges in one sketch op`);
        cuts.push(...readSortedBounds(r, j, maxKey));
        spans.push({ lo, hi, cuts, fingerprints: known ? [] : readFingerprints(r, j + 1) });
      }
      if (!pieces) return { op: 'sketch', shard, root, salt, cells, spans };
      const layer = r.u8();
      const fingerprints: Uint32Array[] = [];
      let total = 0;
      for (let i = 0; i < ranges; i++) {
        const k = r.varint(Math.min(MAX_PIECES - total, Math.floor(r.remaining / 4)), 'piece count');
        total += k;
        const fps = new Uint32Array(k);
        for (let f = 0; f < k; f++) fps[f] = r.u32();
        fingerprints.push(fps);
      }
      return { op: 'sketch', shard, root, salt, cells, spans, pieces: { layer, fingerprints }, ...(known && { known }) };
    }
    case 'resolve': {
      const root = r.bytes(HASH_BYTES).slice();
      const salt = r.u32();
      const count = r.varint(Math.floor(r.remaining / 3), 'span count');
      const spans: FingerprintSpan[] = [];
      for (let i = 0; i < count; i++) {
        const lo = readOptBound(r, maxKey);
        const hi = readOptBound(r, maxKey);
        const k = r.varint(Math.floor(r.remaining / 4), 'fingerprint count');
        const keyFingerprints: number[] = [];
        for (let f = 0; f < k; f++) {
          const fp = r.u32();
          if (fp > MAX_KEY_FINGERPRINT) r.fail(`a key fingerprint of more than 28 bits`);
          keyFingerprints.push(fp);
        }
        spans.push({ lo, hi, keyFingerprints });
      }
      return { op: 'resolve', shard, root, salt, spans };
    }
    case 'verify':
      return { op: 'verify', shard };
    case undefined:
      return r.fail('unknown op');
  }
}

function readResult(r: Reader, limits: CodecLimits, maxKey: number, version: ProtocolVersion): OpResult {
  const { type, pieces, known } = readType(r, version);
  if (type === 'deferred') return { op: 'deferred' };
  if (known) return r.fail('a sketch of ranges known to differ in place of a result');
  if (type !== undefined && type !== 'refine' && version === 1 && !V1_OPS.has(type)) r.fail(`a ${type} result in a version 1 batch`);
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
    case 'sketch': {
      const count = r.varint(Math.min(MAX_RANGES, r.remaining * 8), 'range count');
      const differs = readBitmap(r, count);
      const items = r.varint(0xffff_ffff, 'items');
      const sketch = Sketch.decode(r);
      if (!pieces) return { op: 'sketch', differs, items, sketch };
      return { op: 'sketch', differs, items, sketch, pieces: readPieceBits(r, differs) };
    }
    case 'refine': {
      const differs = readBitmap(r, r.varint(Math.min(MAX_RANGES, r.remaining * 8), 'range count'));
      return { op: 'refine', differs, pieces: readPieceBits(r, differs) };
    }
    case 'resolve':
      return { op: 'resolve', entries: readPairs(r, maxKey) };
    case 'verify':
      return { op: 'verify', root: r.bytes(HASH_BYTES).slice() };
    case undefined:
      return r.fail('unknown op');
  }
}

function readTop(r: Reader, maxKey: number): TopRanges {
  const layer = r.u8();
  const n = r.varint(Math.floor(r.remaining / (1 + FINGERPRINT_BYTES)), 'top key count');
  const keys: Uint8Array[] = [];
  keys.push(...readSortedBounds(r, n, maxKey));
  return { layer, keys, fingerprints: readFingerprints(r, n + 1) };
}

/** Decodes a request from a peer: a hello or a batch. */
export function decodeRequest(bytes: Uint8Array, limits: CodecLimits = {}): Request {
  return strictly('session request', () => {
    const r = new Reader(bytes, 'session request');
    const maxKey = limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES;
    const { version, kind } = readHeader(r);
    let request: Request;
    if (kind === KIND.hello) {
      const node = readStr(r, 64, 'node id length');
      const fanout = r.u8();
      const salt = version >= 2 ? r.u32() : 0;
      const count = r.varint(Math.min(MAX_SHARDS, Math.floor(r.remaining / (HASH_BYTES + 1))), 'shard count');
      const shards: { root: Uint8Array; floor: Stamp }[] = [];
      for (let i = 0; i < count; i++) {
        const root = r.bytes(HASH_BYTES).slice();
        const flag = r.u8();
        if (flag > 1) r.fail(`bad floor flag ${flag}`);
        shards.push({ root, floor: flag === 0 ? ZERO_STAMP : readStamp(r) });
      }
      request = { kind: 'hello', version, node, fanout, salt, shards };
    } else if (kind === KIND.batch) {
      const count = r.varint(Math.floor(r.remaining / 2), 'op count');
      const ops: Op[] = [];
      for (let i = 0; i < count; i++) ops.push(readOp(r, limits, maxKey, version));
      request = { kind: 'batch', version, ops };
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
    const { version, kind } = readHeader(r);
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
        const hasTop = (flags & FLAG_SUMMARY) !== 0;
        const summary = hasTop && version === 1 ? decodeNode(readBlob(r, r.remaining, 'node length').slice(), nodeLimits) : null;
        const top = hasTop && version >= 2 ? readTop(r, maxKey) : null;
        shards.push({ root, floor, summary, top });
      }
      reply = { kind: 'hello', version, node, clean: clean === 1, shards };
    } else if (kind === KIND.batchReply) {
      const count = r.varint(Math.floor(r.remaining / 2), 'result count');
      const results: OpResult[] = [];
      for (let i = 0; i < count; i++) results.push(readResult(r, limits, maxKey, version));
      reply = { kind: 'batch', version, results };
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
