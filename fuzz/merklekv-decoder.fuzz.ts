/**
 * The MerkleKV request decoder fed hostile byte streams: random bytes, protocol-like text, UTF-8
 * garbage, CR/LF games and lines around the length limit (1 MiB by default), cut into chunks
 * anywhere. The events must be exactly what a line-by-line model of the framing rules
 * (PROTOCOL.md) gives: each complete line decoded on its own (so a valid request after garbage
 * is still decoded), `tooLong` for a line that reaches the limit (even before its `\n`),
 * `invalidUtf8` for a line that is not UTF-8, and nothing after either of those. The decoder
 * never throws, and never holds more than the limit.
 */
import { isUtf8 } from 'node:buffer';

import fc from 'fast-check';

import { MERKLEKV_MAX_LINE_BYTES, MerkleKvDecoder, type MerkleKvEvent } from '#protocol';

import { parseMerkleKvLine } from '../libs/protocol/src/merklekv/parse.js';
import { eventsText, protocolishBytes } from '../libs/protocol/src/testing/merklekv.js';
import { check, type FuzzTarget } from './target.js';

/** A run of one byte whose length is the line limit plus `delta`: built only when the input is. */
interface LimitRun {
  readonly delta: number;
  readonly fill: number;
}
type Segment = Uint8Array | LimitRun;

const INVALID_UTF8 = [[0xff], [0x80], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xf0, 0x9f, 0x94]];
const LINE_ENDS = ['\r', '\n', '\r\n', '\r\r\n', '\n\r', '\r\n\r\n', '\n\n', ' \r\n', '\t\n'];

const utf8 = (text: string): Uint8Array => Buffer.from(text, 'utf8');
const keyArb = fc.string({ unit: fc.constantFrom('a', 'k', 'Z', '0', '9', ':', '_', '-', '.', 'é', '日', '🔑'), minLength: 1, maxLength: 12 });
// A value may hold anything but `\n`; a leading letter keeps it non-empty after trimming.
const valueArb = fc.string({ unit: 'grapheme', maxLength: 24 }).map((s) => `v${s.replace(/\n/g, '')}`);

/** A request line (without its ending) that the protocol accepts. */
const requestArb: fc.Arbitrary<string> = fc
  .tuple(
    fc.constantFrom('GET', 'get', 'SET', 'Set', 'DEL', 'DELETE', 'INC', 'DEC', 'INCR', 'MGET', 'MSET', 'EXISTS', 'APPEND', 'PING', 'ECHO', 'SCAN'),
    keyArb,
    keyArb,
    valueArb,
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
  )
  .map(([word, key, key2, value, amount]) => {
    switch (word.toUpperCase()) {
      case 'SET':
      case 'APPEND':
        return `${word} ${key} ${value}`;
      case 'INC':
      case 'DEC':
      case 'INCR':
        return `${word} ${key} ${amount}`;
      case 'MGET':
      case 'EXISTS':
        return `${word} ${key} ${key2}`;
      case 'MSET':
        return `${word} ${key} 1 ${key2} 2`;
      case 'PING':
        return word;
      case 'ECHO':
        return `${word} ${value}`;
      default:
        return `${word} ${key}`;
    }
  });

const segmentArb: fc.Arbitrary<Segment> = fc.oneof(
  { weight: 5, arbitrary: protocolishBytes },
  { weight: 5, arbitrary: fc.tuple(requestArb, fc.constantFrom(...LINE_ENDS)).map(([line, end]) => utf8(line + end)) },
  { weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 2, arbitrary: fc.constantFrom(...LINE_ENDS).map(utf8) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 16 }).map(utf8) },
  { weight: 2, arbitrary: fc.constantFrom(...INVALID_UTF8).map((bytes) => Uint8Array.from(bytes)) },
  { weight: 1, arbitrary: fc.record({ delta: fc.integer({ min: -3, max: 2 }), fill: fc.constantFrom(0x78, 0x20, 0x0d, 0xc3, 0xff) }) },
);

interface DecoderInput {
  /** undefined: the default, MERKLEKV_MAX_LINE_BYTES. */
  readonly maxLineBytes: number | undefined;
  readonly segments: readonly Segment[];
  /** A valid request after everything else: it must be decoded unless the stream was closed. */
  readonly trailer: string;
  /** Chunk boundaries, as fractions of the input length. */
  readonly cuts: readonly number[];
  /** Feed small inputs in chunks of this many bytes instead (1: byte by byte). */
  readonly chunkBytes: number | null;
}

const inputArb: fc.Arbitrary<DecoderInput> = fc.record({
  maxLineBytes: fc.oneof(
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 9, arbitrary: fc.constantFrom(1, 2, 3, 8, 16, 64, 300, 4096) },
  ),
  segments: fc.array(segmentArb, { maxLength: 8 }),
  trailer: requestArb,
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
  chunkBytes: fc.option(fc.constantFrom(1, 2, 3, 5), { freq: 4 }),
});

/** The events the framing rules give for the whole stream, decoding each line on its own. */
function modelEvents(input: Buffer, maxLineBytes: number): MerkleKvEvent[] {
  const events: MerkleKvEvent[] = [];
  for (let at = 0; ; ) {
    const newline = input.indexOf(0x0a, at);
    if (newline < 0) {
      if (input.length - at >= maxLineBytes) events.push({ kind: 'tooLong' });
      return events;
    }
    if (newline - at + 1 > maxLineBytes) return [...events, { kind: 'tooLong' }];
    if (!isUtf8(input.subarray(at, newline))) return [...events, { kind: 'invalidUtf8' }];
    const parsed = parseMerkleKvLine(input, at, newline);
    events.push(typeof parsed === 'string' ? { kind: 'error', message: parsed } : { kind: 'command', command: parsed });
    at = newline + 1;
  }
}

function chunksOf(input: Buffer, { cuts, chunkBytes }: DecoderInput): Buffer[] {
  if (chunkBytes !== null && input.length <= 4096) {
    const chunks: Buffer[] = [];
    for (let at = 0; at < input.length; at += chunkBytes) chunks.push(input.subarray(at, at + chunkBytes));
    return chunks;
  }
  const points = [0, ...cuts.map((f) => Math.floor(f * input.length)).sort((a, b) => a - b), input.length];
  return points.slice(1).map((end, i) => input.subarray(points[i], end));
}

/** Decodes the chunks, checking the memory bounds after every push. */
function decodeChecked(chunks: readonly Buffer[], maxLineBytes: number): MerkleKvEvent[] {
  const events: MerkleKvEvent[] = [];
  const decoder = new MerkleKvDecoder((event) => events.push(event), { maxLineBytes });
  for (const chunk of chunks) {
    decoder.push(chunk);
    check(decoder.bufferedBytes < maxLineBytes, () => `holds ${decoder.bufferedBytes} bytes of a line, limit ${maxLineBytes}`);
    check(decoder.retainedBytes <= maxLineBytes, () => `retains ${decoder.retainedBytes} bytes, limit ${maxLineBytes}`);
  }
  const closing = events.at(-1)?.kind === 'tooLong' || events.at(-1)?.kind === 'invalidUtf8';
  check(decoder.closed === closing, () => `closed is ${decoder.closed} after ${events.at(-1)?.kind ?? 'no event'}`);
  if (closing) check(decoder.retainedBytes === 0, () => `a closed decoder retains ${decoder.retainedBytes} bytes`);
  return events;
}

function property(input: DecoderInput): void {
  const maxLineBytes = input.maxLineBytes ?? MERKLEKV_MAX_LINE_BYTES;
  const parts = input.segments.map((s) => (s instanceof Uint8Array ? s : Buffer.alloc(Math.max(0, maxLineBytes + s.delta), s.fill)));
  const bytes = Buffer.concat([...parts, utf8(`\n${input.trailer}\r\n`)]);

  const expected = modelEvents(bytes, maxLineBytes);
  const whole = decodeChecked([bytes], maxLineBytes);
  const want = eventsText(expected);
  check(eventsText(whole) === want, () => `one push decodes to ${eventsText(whole).slice(0, 2000)}\nthe framing rules say ${want.slice(0, 2000)}`);
  const chunked = decodeChecked(chunksOf(bytes, input), maxLineBytes);
  check(eventsText(chunked) === want, () => `chunks decode to ${eventsText(chunked).slice(0, 2000)}\none push to ${want.slice(0, 2000)}`);

  const last = whole.at(-1);
  if (last?.kind !== 'tooLong' && last?.kind !== 'invalidUtf8') {
    check(last?.kind === 'command', () => `the request ${JSON.stringify(input.trailer)} after the garbage decoded to ${JSON.stringify(last)}`);
  }
}

export const merkleKvDecoderTarget: FuzzTarget = {
  name: 'merklekv-decoder',
  claim: 'events equal the line-by-line framing model for any bytes and any chunking; no throw; bounded buffer',
  ciRuns: 1000,
  property: () => fc.property(inputArb, property),
};
