/*
 * Binary encoding of entries: compact, versioned, canonical.
 *
 * Canonical means one state has exactly one encoding (maps and tag lists sorted, no zero totals,
 * minimal varints, no trailing bytes), so the SHA-256 of the encoding is a digest of the state,
 * and decodeEntry refuses any other spelling. Layout (all varints are unsigned LEB128, minimal
 * length; "str" is a varint byte length then UTF-8):
 *
 *   u8 version: 1 (an entry without attributes) or 2 (a live entry with attributes)
 *   u8 kind: 0 register, 1 tombstone, 2 counter, 3 set
 *   stamp: 8-byte HLC (see hlc.ts) + str node       (for counters and sets: the epoch)
 *   version 2 only, the attributes:
 *     u8 present: bit 0 flags, bit 1 expiry, bit 2 the expiry's stamp differs from the entry's
 *                 (never 0: an entry without attributes is written as version 1; other bits 0)
 *     bit 0: varint flags, 1..2^32-1
 *     bit 1: varint expiry time (ms since the Unix epoch, 0 = never, < 2^48)
 *     bit 2: stamp of the expiry
 *   register:  varint length + value bytes
 *   tombstone: nothing
 *   counter:   zigzag varint base (int64, or up to 2^64-1 for a memcached counter)
 *              varint n, n x (str node, varint total)   inc, nodes ascending, totals in 1..2^128-1
 *              varint m, m x (str node, varint total)   dec, likewise
 *   set:       varint k, k x str node                    node table, ascending, each one used
 *              varint e, e x (varint length + element bytes, varint t >= 1, t x tag)
 *                                                        elements ascending by bytes, tags ascending
 *              varint r, r x tag                         removed tags, ascending, none of them live
 *              tag = 8-byte HLC + varint index into the node table
 *
 * Version 2 is written only for entries that carry attributes (an expiry, client flags): every
 * other entry keeps its version 1 bytes, so data directories and replication messages of nodes
 * that predate attributes read unchanged, and so do the digests in their Merkle Search Trees.
 * A node that predates version 2 cannot read an entry with attributes (it counts it as garbage):
 * use expiry and flags once every node of the cluster runs a release that has them.
 *
 * Decoding copies what it returns (register values, elements): the result never aliases the
 * input, so a caller may reuse its buffer. Any malformed input throws CrdtError('CORRUPT'); the
 * decoder consumes at least one byte per loop iteration, so it cannot hang.
 */
import { CrdtError } from './errors.js';
import { type CounterEntry, type Entry, type EntryAttributes, type Expiry, type LiveEntry, type SetEntry } from './entry.js';
import { BASE_MAX, BASE_MIN, MAX_COMPONENT } from './counter.js';
import { type Hlc, readHlc, writeHlc } from './hlc.js';
import { findTag } from './orset.js';
import { type NodeId, type Stamp, compareNodeIds, compareStamps } from './stamp.js';

/** The format of entries without attributes (the first format, unchanged). */
export const FORMAT_VERSION = 1;
/** The format of entries with attributes (expiry, client flags). */
export const ATTRIBUTES_FORMAT_VERSION = 2;

const ATTR_FLAGS = 1;
const ATTR_EXPIRY = 2;
const ATTR_EXPIRY_STAMP = 4;
const MAX_FLAGS = 0xffffffff;
const MAX_EXPIRY = 2 ** 48 - 1;

const KIND = { register: 0, tombstone: 1, counter: 2, set: 3 } as const;
const MAX_SAFE = Number.MAX_SAFE_INTEGER;

// ---------------------------------------------------------------------------------------------
// Writing

/** UTF-8 bytes of node ids: there are few distinct ids, and they recur in every entry. */
const nodeBytesCache = new Map<NodeId, Buffer>();

function nodeBytes(id: NodeId): Buffer {
  let b = nodeBytesCache.get(id);
  if (b === undefined) {
    b = Buffer.from(id, 'utf8');
    if (b.toString('utf8') !== id) throw new RangeError(`node id ${JSON.stringify(id)} is not well-formed UTF-16`);
    if (nodeBytesCache.size >= 4096) nodeBytesCache.clear();
    nodeBytesCache.set(id, b);
  }
  return b;
}

function uvarintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** A growable output buffer, reused across calls (encoding is synchronous). */
class Writer {
  buf: Buffer;
  pos = 0;

  constructor(buf: Buffer) {
    this.buf = buf;
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.pos + n, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  uvarint(v: number): void {
    this.ensure(v < 0x80 ? 1 : uvarintSize(v));
    const b = this.buf;
    while (v >= 0x80) {
      b[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    b[this.pos++] = v;
  }

  bigUvarint(v: bigint): void {
    if (v <= BigInt(MAX_SAFE)) return this.uvarint(Number(v));
    this.ensure(19);
    const b = this.buf;
    while (v >= 0x80n) {
      b[this.pos++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    b[this.pos++] = Number(v);
  }

  hlc(h: Hlc): void {
    this.ensure(8);
    writeHlc(this.buf, this.pos, h);
    this.pos += 8;
  }

  bytes(v: Uint8Array): void {
    this.uvarint(v.length);
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  str(id: NodeId): void {
    this.bytes(nodeBytes(id));
  }

  latin1(key: string): void {
    this.uvarint(key.length);
    this.ensure(key.length);
    this.pos += this.buf.write(key, this.pos, 'latin1');
  }

  stamp(s: Stamp): void {
    this.hlc(s.hlc);
    this.str(s.node);
  }
}

const writer = new Writer(Buffer.allocUnsafe(4096));

function sortedKeys<K extends string>(m: ReadonlyMap<K, unknown>): K[] {
  const keys = [...m.keys()];
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! >= keys[i]!) return keys.sort((a, b) => compareNodeIds(a, b));
  }
  return keys;
}

function writeComponents(w: Writer, m: ReadonlyMap<NodeId, bigint>): void {
  w.uvarint(m.size);
  for (const node of sortedKeys(m)) {
    const v = m.get(node)!;
    if (v <= 0n || v > MAX_COMPONENT) throw new RangeError(`counter total ${v} of node ${node} outside 1..2^128-1`);
    w.str(node);
    w.bigUvarint(v);
  }
}

function writeCounter(w: Writer, e: CounterEntry): void {
  if (e.base < BASE_MIN || e.base > BASE_MAX) throw new RangeError(`counter base ${e.base} outside int64 and uint64`);
  w.bigUvarint(e.base >= 0n ? e.base << 1n : ((-e.base) << 1n) - 1n);
  writeComponents(w, e.inc);
  writeComponents(w, e.dec);
}

function checkAscending(tags: readonly Stamp[]): void {
  for (let i = 1; i < tags.length; i++) {
    if (compareStamps(tags[i - 1]!, tags[i]!) >= 0) throw new RangeError('set tags must be strictly ascending');
  }
}

function writeSet(w: Writer, e: SetEntry): void {
  const nodeSet = new Set<NodeId>();
  for (const tags of e.elements.values()) for (const t of tags) nodeSet.add(t.node);
  for (const t of e.removed) nodeSet.add(t.node);
  const nodes = [...nodeSet].sort(compareNodeIds);
  const index = new Map<NodeId, number>();
  w.uvarint(nodes.length);
  nodes.forEach((n, i) => {
    index.set(n, i);
    w.str(n);
  });
  const tag = (t: Stamp): void => {
    w.hlc(t.hlc);
    w.uvarint(index.get(t.node)!);
  };
  w.uvarint(e.elements.size);
  for (const key of sortedKeys(e.elements)) {
    const tags = e.elements.get(key)!;
    if (tags.length === 0) throw new RangeError('a set element must have at least one tag');
    checkAscending(tags);
    w.latin1(key);
    w.uvarint(tags.length);
    for (const t of tags) tag(t);
  }
  checkAscending(e.removed);
  w.uvarint(e.removed.length);
  for (const t of e.removed) tag(t);
}

function hasAttributes(e: Entry): boolean {
  return e.type !== 'tombstone' && (e.expiry !== undefined || (e.flags ?? 0) !== 0);
}

function writeAttributes(w: Writer, e: LiveEntry): void {
  const { expiry } = e;
  const flags = e.flags ?? 0;
  if (!Number.isInteger(flags) || flags < 0 || flags > MAX_FLAGS) throw new RangeError(`flags ${flags} outside 0..2^32-1`);
  if (expiry !== undefined && (!Number.isInteger(expiry.at) || expiry.at < 0 || expiry.at > MAX_EXPIRY)) {
    throw new RangeError(`expiry ${expiry.at} outside 0..2^48-1`);
  }
  const ownStamp = expiry !== undefined && compareStamps(expiry.stamp, e.stamp) !== 0;
  w.u8((flags !== 0 ? ATTR_FLAGS : 0) | (expiry ? ATTR_EXPIRY : 0) | (ownStamp ? ATTR_EXPIRY_STAMP : 0));
  if (flags !== 0) w.uvarint(flags);
  if (expiry) {
    w.uvarint(expiry.at);
    if (ownStamp) w.stamp(expiry.stamp);
  }
}

/** Encodes into the shared writer; returns the length. The bytes are valid until the next call. */
function encodeShared(e: Entry): number {
  const w = writer;
  if (w.buf.length > 1 << 16) w.buf = Buffer.allocUnsafe(4096); // do not keep a huge buffer around
  w.pos = 0;
  const attributes = hasAttributes(e);
  w.u8(attributes ? ATTRIBUTES_FORMAT_VERSION : FORMAT_VERSION);
  w.u8(KIND[e.type]);
  w.stamp(e.stamp);
  if (attributes) writeAttributes(w, e as LiveEntry);
  switch (e.type) {
    case 'register':
      w.bytes(e.value);
      break;
    case 'tombstone':
      break;
    case 'counter':
      writeCounter(w, e);
      break;
    case 'set':
      writeSet(w, e);
      break;
  }
  return w.pos;
}

/** @internal The canonical encoding in a shared scratch buffer, valid until the next encode. */
export function encodeEntryShared(e: Entry): Buffer {
  const len = encodeShared(e);
  return writer.buf.subarray(0, len);
}

/** Compact, versioned (first byte = format version), canonical (maps sorted) binary. */
export function encodeEntry(e: Entry): Uint8Array {
  if (e.type === 'register' && !hasAttributes(e)) {
    // Hot path: exact size, written straight into the result.
    const node = nodeBytes(e.stamp.node);
    const v = e.value;
    const size = 10 + uvarintSize(node.length) + node.length + uvarintSize(v.length) + v.length;
    const w = new Writer(Buffer.allocUnsafe(size));
    w.u8(FORMAT_VERSION);
    w.u8(KIND.register);
    w.hlc(e.stamp.hlc);
    w.bytes(node);
    w.bytes(v);
    return w.buf;
  }
  const len = encodeShared(e);
  const out = Buffer.allocUnsafe(len);
  writer.buf.copy(out, 0, 0, len);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reading

function corrupt(why: string): never {
  throw new CrdtError('CORRUPT', `corrupt entry: ${why}`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

class Reader {
  pos = 0;
  constructor(readonly b: Buffer) {}

  remaining(): number {
    return this.b.length - this.pos;
  }

  need(n: number): void {
    if (n > this.b.length - this.pos) corrupt(`truncated at byte ${this.pos}`);
  }

  u8(): number {
    this.need(1);
    return this.b[this.pos++]!;
  }

  uvarint(): number {
    let v = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const byte = this.u8();
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) corrupt('non-minimal varint');
        if (v > MAX_SAFE) corrupt('varint too large');
        return v;
      }
      mul *= 0x80;
    }
    return corrupt('varint too long');
  }

  /** A count of items each taking at least `minBytes`: bounded by what is left. */
  count(minBytes: number): number {
    const n = this.uvarint();
    if (n * minBytes > this.remaining()) corrupt(`count ${n} exceeds the input`);
    return n;
  }

  bigUvarint(maxBytes: number): bigint {
    let lo = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      const byte = this.u8();
      lo += (byte & 0x7f) * mul;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) corrupt('non-minimal varint');
        return BigInt(lo);
      }
      mul *= 0x80;
    }
    let v = BigInt(lo);
    let shift = 49n;
    for (let i = 7; i < maxBytes; i++) {
      const byte = this.u8();
      v |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) {
        if (byte === 0) corrupt('non-minimal varint');
        return v;
      }
      shift += 7n;
    }
    return corrupt('varint too long');
  }

  hlc(): Hlc {
    this.need(8);
    const h = readHlc(this.b, this.pos);
    this.pos += 8;
    return h;
  }

  /** A length-prefixed byte string, copied. */
  bytes(): Uint8Array {
    const len = this.uvarint();
    this.need(len);
    const out = new Uint8Array(len);
    out.set(this.b.subarray(this.pos, this.pos + len));
    this.pos += len;
    return out;
  }

  str(): string {
    const len = this.uvarint();
    this.need(len);
    const s = this.b.toString('utf8', this.pos, this.pos + len);
    // toString replaces invalid UTF-8 with U+FFFD: only then pay for a strict check.
    if (s.includes('\uFFFD')) {
      try {
        strictUtf8.decode(this.b.subarray(this.pos, this.pos + len));
      } catch {
        corrupt('node id is not valid UTF-8');
      }
    }
    this.pos += len;
    return s;
  }

  latin1(): string {
    const len = this.uvarint();
    this.need(len);
    const s = this.b.toString('latin1', this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  stamp(): Stamp {
    const hlc = this.hlc();
    return { hlc, node: this.str() };
  }
}

function readComponents(r: Reader): ReadonlyMap<NodeId, bigint> {
  const n = r.count(2);
  const m = new Map<NodeId, bigint>();
  let prev: string | undefined;
  for (let i = 0; i < n; i++) {
    const node = r.str();
    if (prev !== undefined && compareNodeIds(prev, node) >= 0) corrupt('counter nodes not ascending');
    prev = node;
    const v = r.bigUvarint(19);
    if (v === 0n || v > MAX_COMPONENT) corrupt('counter total out of range');
    m.set(node, v);
  }
  return m;
}

function readCounter(r: Reader, stamp: Stamp): CounterEntry {
  const zz = r.bigUvarint(10);
  const base = (zz & 1n) === 0n ? zz >> 1n : -((zz + 1n) >> 1n);
  if (base < BASE_MIN || base > BASE_MAX) corrupt('counter base outside int64 and uint64');
  const inc = readComponents(r);
  const dec = readComponents(r);
  return { type: 'counter', stamp, base, inc, dec };
}

function readTags(r: Reader, n: number, nodes: readonly NodeId[], used: boolean[]): Stamp[] {
  const tags: Stamp[] = [];
  for (let i = 0; i < n; i++) {
    const hlc = r.hlc();
    const idx = r.uvarint();
    const node = nodes[idx];
    if (node === undefined) corrupt('tag node index out of range');
    used[idx] = true;
    const t: Stamp = { hlc, node };
    if (i > 0 && compareStamps(tags[i - 1]!, t) >= 0) corrupt('tags not ascending');
    tags.push(t);
  }
  return tags;
}

function readSet(r: Reader, stamp: Stamp): SetEntry {
  const nNodes = r.count(1);
  const nodes: NodeId[] = [];
  for (let i = 0; i < nNodes; i++) {
    const n = r.str();
    if (i > 0 && compareNodeIds(nodes[i - 1]!, n) >= 0) corrupt('set node table not ascending');
    nodes.push(n);
  }
  const used: boolean[] = new Array<boolean>(nNodes).fill(false);
  const nElements = r.count(2);
  const elements = new Map<string, readonly Stamp[]>();
  let prev: string | undefined;
  for (let i = 0; i < nElements; i++) {
    const key = r.latin1();
    if (prev !== undefined && prev >= key) corrupt('set elements not ascending');
    prev = key;
    const nTags = r.count(9);
    if (nTags === 0) corrupt('set element without tags');
    elements.set(key, readTags(r, nTags, nodes, used));
  }
  const removed = readTags(r, r.count(9), nodes, used);
  if (used.includes(false)) corrupt('unused node in set node table');
  if (removed.length > 0) {
    for (const tags of elements.values()) {
      for (const t of tags) if (findTag(removed, t) >= 0) corrupt('a live tag is also removed');
    }
  }
  return { type: 'set', stamp, elements, removed };
}

function readAttributes(r: Reader, stamp: Stamp): EntryAttributes {
  const present = r.u8();
  if (present === 0 || present > 7) corrupt(`attribute bits ${present}`);
  if ((present & ATTR_EXPIRY_STAMP) !== 0 && (present & ATTR_EXPIRY) === 0) corrupt('an expiry stamp without an expiry');
  let flags: number | undefined;
  if ((present & ATTR_FLAGS) !== 0) {
    flags = r.uvarint();
    if (flags === 0 || flags > MAX_FLAGS) corrupt('flags out of range');
  }
  let expiry: Expiry | undefined;
  if ((present & ATTR_EXPIRY) !== 0) {
    const at = r.uvarint();
    if (at > MAX_EXPIRY) corrupt('expiry out of range');
    let expiryStamp = stamp;
    if ((present & ATTR_EXPIRY_STAMP) !== 0) {
      expiryStamp = r.stamp();
      if (compareStamps(expiryStamp, stamp) === 0) corrupt('an expiry stamp equal to the entry stamp');
    }
    expiry = { at, stamp: expiryStamp };
  }
  return { ...(expiry === undefined ? {} : { expiry }), ...(flags === undefined ? {} : { flags }) };
}

function decode(bytes: Uint8Array): Entry {
  if (!(bytes instanceof Uint8Array)) corrupt('not a byte array');
  const r = new Reader(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  const version = r.u8();
  if (version !== FORMAT_VERSION && version !== ATTRIBUTES_FORMAT_VERSION) corrupt(`unknown format version ${version}`);
  const kind = r.u8();
  const stamp = r.stamp();
  let attributes: EntryAttributes | undefined;
  if (version === ATTRIBUTES_FORMAT_VERSION) {
    if (kind === KIND.tombstone) corrupt('a tombstone has no attributes');
    attributes = readAttributes(r, stamp);
  }
  let e: Entry;
  switch (kind) {
    case KIND.register:
      e = { type: 'register', stamp, value: r.bytes(), ...attributes };
      break;
    case KIND.tombstone:
      e = { type: 'tombstone', stamp };
      break;
    case KIND.counter:
      e = { ...readCounter(r, stamp), ...attributes };
      break;
    case KIND.set:
      e = { ...readSet(r, stamp), ...attributes };
      break;
    default:
      return corrupt(`unknown entry kind ${kind}`);
  }
  if (r.remaining() !== 0) corrupt(`${r.remaining()} trailing bytes`);
  return e;
}

/** Throws CrdtError('CORRUPT', ...) on any malformed input, never anything else, never hangs. */
export function decodeEntry(bytes: Uint8Array): Entry {
  try {
    return decode(bytes);
  } catch (err) {
    if (err instanceof CrdtError) throw err;
    throw new CrdtError('CORRUPT', 'corrupt entry', { cause: err });
  }
}
