/**
 * A deliberately plain second implementation of the MST definition, for tests: sorted arrays,
 * recursion, Buffer.concat and node:crypto. The real tree must agree with it on every root hash
 * and shape.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { NodeShape } from '../tree.js';

export type ModelMap = Map<string, Uint8Array>; // hex key -> digest

const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest();

export function modelLayer(key: Uint8Array, fanout: number): number {
  const bits = Math.log2(fanout);
  const h = sha(key);
  let zeros = 0;
  for (const byte of h) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    for (let m = 0x80; (byte & m) === 0; m >>= 1) zeros++;
    break;
  }
  return Math.floor(zeros / bits);
}

function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** A node's canonical encoding: layer | n | key lengths | keys | digests | children. */
export function encodePreimage(layer: number, keys: Uint8Array[], digests: Uint8Array[], children: (Uint8Array | null)[]): Buffer {
  const child = (c: Uint8Array | null): Buffer => (c === null ? Buffer.from([0]) : Buffer.concat([Buffer.from([1]), c]));
  return Buffer.concat([
    Buffer.from([layer]),
    varint(keys.length),
    ...keys.map((k) => varint(k.length)),
    ...keys,
    ...digests,
    ...children.map(child),
  ]);
}

export const sha256Of = (b: Uint8Array): Uint8Array => new Uint8Array(sha(b));

interface Built {
  hash: Buffer;
  shape: NodeShape;
}

function build(entries: [Buffer, Uint8Array][], fanout: number): Built | null {
  if (entries.length === 0) return null;
  const layers = entries.map(([k]) => modelLayer(k, fanout));
  const top = Math.max(...layers);
  const gaps: [Buffer, Uint8Array][][] = [[]];
  const mine: [Buffer, Uint8Array][] = [];
  entries.forEach((e, i) => {
    if (layers[i] === top) {
      mine.push(e);
      gaps.push([]);
    } else gaps[gaps.length - 1]!.push(e);
  });
  const children = gaps.map((g) => build(g, fanout));
  const bytes = encodePreimage(
    top,
    mine.map(([k]) => k),
    mine.map(([, d]) => d),
    children.map((c) => c?.hash ?? null),
  );
  return {
    hash: sha(bytes),
    shape: { layer: top, keys: mine.map(([k]) => k.toString('hex')), children: children.map((c) => c?.shape ?? null) },
  };
}

function sorted(map: ModelMap): [Buffer, Uint8Array][] {
  return [...map.entries()].map(([k, d]) => [Buffer.from(k, 'hex'), d] as [Buffer, Uint8Array]).sort((a, b) => Buffer.compare(a[0], b[0]));
}

export function modelRoot(map: ModelMap, fanout = 16): Uint8Array {
  return build(sorted(map), fanout)?.hash ?? new Uint8Array(32);
}

export function modelShape(map: ModelMap, fanout = 16): NodeShape | null {
  return build(sorted(map), fanout)?.shape ?? null;
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const digestOf = (text: string): Uint8Array => sha(Buffer.from(text));
export const randomDigest = (): Uint8Array => new Uint8Array(randomBytes(32));
