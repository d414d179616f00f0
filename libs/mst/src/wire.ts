/**
 * Strict decoding of bytes that come from the network. Every length is checked against what
 * is left before anything is allocated, so hostile input yields an MstError('DECODE'), never a
 * crash, a huge allocation or a silently truncated value.
 */
import { compareBytes } from './bytes.js';
import { MstError } from './errors.js';
import { sha256 } from './layer.js';
import { DIGEST_BYTES, HASH_BYTES } from './node.js';

/** Limits applied while decoding untrusted bytes. */
export interface DecodeLimits {
  /** Longest key accepted. Default 1 MiB (the MerkleKV text protocol's line limit). */
  readonly maxKeyBytes?: number;
  /** Most node references in one request. Default 65,536. */
  readonly maxRefs?: number;
}

export const DEFAULT_MAX_KEY_BYTES = 1 << 20;
export const DEFAULT_MAX_REFS = 1 << 16;

interface NodeFields {
  readonly layer: number;
  readonly keys: readonly Uint8Array[];
  readonly digests: readonly Uint8Array[];
  readonly children: readonly (Uint8Array | null)[];
}

/**
 * A node as a peer sees it: everything its hash commits to. `bytes` is the node's canonical
 * encoding (its hash preimage and its wire form, see node.ts); `hash` = SHA-256(bytes). Keys,
 * digests and child hashes are views into `bytes`. A summary served from a local tree is parsed
 * only if someone reads its fields (the server just forwards the bytes).
 */
export class NodeSummary {
  #hash: Uint8Array | null;
  #fields: NodeFields | null;

  /** @internal Build with {@link decodeNode}, or get one from `summarize`. */
  constructor(
    readonly bytes: Uint8Array,
    hash: Uint8Array | null,
    fields: NodeFields | null,
  ) {
    this.#hash = hash;
    this.#fields = fields;
  }

  /** SHA-256(bytes), computed on first use. */
  get hash(): Uint8Array {
    return (this.#hash ??= sha256(this.bytes));
  }

  get layer(): number {
    return this.#parsed().layer;
  }

  get keys(): readonly Uint8Array[] {
    return this.#parsed().keys;
  }

  get digests(): readonly Uint8Array[] {
    return this.#parsed().digests;
  }

  /** n + 1 child hashes, one per gap around the keys; null = empty gap. */
  get children(): readonly (Uint8Array | null)[] {
    return this.#parsed().children;
  }

  #parsed(): NodeFields {
    return (this.#fields ??= parseNode(this.bytes, Number.MAX_SAFE_INTEGER));
  }
}

export class Reader {
  at = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly what: string,
  ) {}

  fail(message: string): never {
    throw new MstError('DECODE', `${this.what}: ${message} at byte ${this.at}`);
  }

  get remaining(): number {
    return this.buf.length - this.at;
  }

  u8(): number {
    if (this.at >= this.buf.length) this.fail('truncated');
    return this.buf[this.at++]!;
  }

  /** Big-endian, without a view: sketches and fingerprints read tens of thousands. */
  u32(): number {
    const b = this.buf;
    const at = this.at;
    if (at + 4 > b.length) this.fail('truncated');
    this.at = at + 4;
    return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
  }

  /** Unsigned LEB128, minimal, at most `max` (<= 2^32 - 1). */
  varint(max: number, field: string): number {
    let v = 0;
    let scale = 1;
    for (let i = 0; i < 5; i++) {
      const b = this.u8();
      v += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (b === 0 && i > 0) this.fail(`${field}: non-minimal varint`);
        if (v > max) this.fail(`${field} ${v} exceeds ${max}`);
        return v;
      }
      scale *= 128;
    }
    return this.fail(`${field}: varint too long`);
  }

  /** A view of the next `len` bytes. */
  bytes(len: number): Uint8Array {
    if (len > this.remaining) this.fail('truncated');
    const out = this.buf.subarray(this.at, this.at + len);
    this.at += len;
    return out;
  }

  end(): void {
    if (this.at !== this.buf.length) this.fail(`${this.remaining} trailing bytes`);
  }
}

/** Smallest encoding of one entry: 1-byte key length + empty key + digest + empty child. */
const MIN_ENTRY_BYTES = 1 + DIGEST_BYTES + 1;

function readChild(r: Reader): Uint8Array | null {
  const flag = r.u8();
  if (flag === 0) return null;
  if (flag !== 1) r.fail(`bad child flag ${flag}`);
  return r.bytes(HASH_BYTES);
}

/**
 * Decodes a node's canonical encoding (exactly `bytes`, nothing after; the format is in
 * node.ts). Checks structure, limits and strictly ascending keys. `hash` is computed when first
 * read, unless the caller already knows it.
 */
export function decodeNode(bytes: Uint8Array, limits: DecodeLimits = {}, knownHash?: Uint8Array): NodeSummary {
  const fields = parseNode(bytes, limits.maxKeyBytes ?? DEFAULT_MAX_KEY_BYTES);
  return new NodeSummary(bytes, knownHash ?? null, fields);
}

function parseNode(bytes: Uint8Array, maxKey: number): NodeFields {
  const r = new Reader(bytes, 'node');
  const layer = r.u8();
  const n = r.varint(Math.floor(r.remaining / MIN_ENTRY_BYTES), 'key count');
  if (n === 0) r.fail('a node holds at least one key');
  const lengths: number[] = [];
  let total = 0;
  for (let i = 0; i < n; i++) {
    const len = r.varint(Math.min(maxKey, r.remaining), 'key length');
    total += len;
    if (total > r.remaining) r.fail('truncated');
    lengths.push(len);
  }
  const keys: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const key = r.bytes(lengths[i]!);
    if (i > 0 && compareBytes(keys[i - 1]!, key) >= 0) r.fail('keys not strictly ascending');
    keys.push(key);
  }
  const digests: Uint8Array[] = [];
  for (let i = 0; i < n; i++) digests.push(r.bytes(DIGEST_BYTES));
  const children: (Uint8Array | null)[] = [];
  for (let g = 0; g <= n; g++) children.push(readChild(r));
  r.end();
  return { layer, keys, digests, children };
}
