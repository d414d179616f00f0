/**
 * The memcached request decoder fed hostile byte streams: classic and meta command lines with
 * random numbers, keys and flags, data blocks of the wrong size, garbage, binary packets (valid,
 * with damaged lengths, unknown opcodes, huge announced bodies), runs around the line limits,
 * all cut into chunks anywhere, with small limits so that every bound is reached. The decoder
 * must never throw, decode the same events however the stream is cut, emit nothing after an event
 * that closes the connection, and never hold more than its limits allow.
 */
import fc from 'fast-check';

import { MemcachedDecoder, type MemcachedDecoderOptions, type MemcachedEvent } from '#protocol';

import { MAX_SASL_MESSAGE_BYTES } from '../libs/protocol/src/memcached/binary.js';
import { memcachedEventsText } from '../libs/protocol/src/testing/memcached.js';
import { check, type FuzzTarget } from './target.js';

const WORDS = ['get', 'gets', 'gat', 'gats', 'set', 'add', 'replace', 'append', 'prepend', 'cas', 'delete', 'incr', 'decr', 'touch', 'flush_all', 'version', 'verbosity', 'stats', 'quit', 'mg', 'ms', 'md', 'ma', 'mn', 'me', 'noreply'];
const TOKENS = ['0', '1', '2', '5', '-1', '99999999999', '18446744073709551616', 'k', 'key', 'v', 'q', 'T5', 'F3', 'C7', 'MA', 'MX', 'O9', 'b', 'aw==', 'N0', 'J5', 'D2', 'é', '\t', '\0'];
const SEPARATORS = [' ', '  ', '\r\n', '\n', '\r', ''];

const textArb: fc.Arbitrary<Uint8Array> = fc
  .array(fc.oneof(fc.constantFrom(...WORDS), fc.constantFrom(...TOKENS), fc.constantFrom(...SEPARATORS), fc.string({ maxLength: 6 })), { maxLength: 24 })
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));

/** A binary packet whose header fields may lie about the body. */
const packetArb: fc.Arbitrary<Uint8Array> = fc
  .record({
    magic: fc.oneof({ weight: 9, arbitrary: fc.constant(0x80) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    opcode: fc.oneof(fc.constantFrom(0x00, 0x01, 0x02, 0x04, 0x05, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0d, 0x0e, 0x10, 0x11, 0x1c, 0x1d, 0x24), fc.integer({ min: 0, max: 255 })),
    key: fc.uint8Array({ maxLength: 12 }),
    extras: fc.uint8Array({ maxLength: 24 }),
    value: fc.uint8Array({ maxLength: 40 }),
    keyLengthDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 300 }) }),
    bodyLengthDelta: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 5000 }) }),
    cas: fc.bigUint64Array({ minLength: 1, maxLength: 1 }),
  })
  .map((p) => {
    const header = Buffer.alloc(24);
    header[0] = p.magic;
    header[1] = p.opcode;
    header.writeUInt16BE(Math.max(0, Math.min(0xffff, p.key.length + p.keyLengthDelta)), 2);
    header[4] = p.extras.length;
    header.writeUInt32BE(Math.max(0, p.extras.length + p.key.length + p.value.length + p.bodyLengthDelta), 8);
    header.writeBigUInt64BE(p.cas[0]!, 16);
    return Buffer.concat([header, p.extras, p.key, p.value]);
  });

const segmentArb: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 6, arbitrary: textArb },
  { weight: 3, arbitrary: packetArb },
  { weight: 2, arbitrary: fc.uint8Array({ maxLength: 64 }) },
  { weight: 1, arbitrary: fc.record({ length: fc.integer({ min: 0, max: 5000 }), fill: fc.constantFrom(0x61, 0x20, 0x0a, 0x80) }).map(({ length, fill }) => Buffer.alloc(length, fill)) },
  { weight: 1, arbitrary: fc.constantFrom('get ', 'gets ', 'set k 0 0 ', 'ms k ').map((s) => Buffer.from(s)) },
);

interface DecoderInput {
  readonly options: MemcachedDecoderOptions;
  readonly segments: readonly Uint8Array[];
  readonly cuts: readonly number[];
}

const inputArb: fc.Arbitrary<DecoderInput> = fc.record({
  options: fc.record({
    maxValueBytes: fc.constantFrom(0, 1, 16, 1024),
    maxLineBytes: fc.constantFrom(8, 64, 300, 2048),
    maxRetrievalLineBytes: fc.constantFrom(300, 1024, 4096),
  }),
  segments: fc.array(segmentArb, { maxLength: 10 }),
  cuts: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 8 }),
});

/**
 * What the decoder may hold: a line, a data block, a binary body (value, key, extras), whichever
 * limit is highest. A SASL body's message has its own limit, whatever the value limit.
 */
const bound = (o: MemcachedDecoderOptions): number =>
  Math.max(o.maxLineBytes ?? 2048, o.maxRetrievalLineBytes ?? 1 << 20, Math.max(o.maxValueBytes, MAX_SASL_MESSAGE_BYTES) + 250 + 255);

function decodeChecked(chunks: readonly Uint8Array[], options: MemcachedDecoderOptions): MemcachedEvent[] {
  const events: MemcachedEvent[] = [];
  const decoder = new MemcachedDecoder((event) => {
    const last = events.at(-1);
    check(last === undefined || !(last.kind === 'close' || (last.kind === 'failure' && last.close)), () => `an event after a closing one: ${memcachedEventsText([last!, event])}`);
    events.push(event);
  }, options);
  for (const chunk of chunks) {
    decoder.push(chunk);
    check(decoder.bufferedBytes <= bound(options), () => `holds ${decoder.bufferedBytes} bytes, bound ${bound(options)}`);
  }
  return events;
}

function property(input: DecoderInput): void {
  const bytes = Buffer.concat(input.segments);
  const whole = memcachedEventsText(decodeChecked([bytes], input.options));
  const points = [0, ...input.cuts.map((f) => Math.floor(f * bytes.length)).sort((a, b) => a - b), bytes.length];
  const chunked = memcachedEventsText(decodeChecked(points.slice(1).map((end, i) => bytes.subarray(points[i], end)), input.options));
  check(chunked === whole, () => `chunks decode to ${chunked.slice(0, 2000)}\none push to ${whole.slice(0, 2000)}`);
  if (bytes.length <= 256) {
    const oneByOne = memcachedEventsText(decodeChecked(Array.from(bytes, (b) => Uint8Array.of(b)), input.options));
    check(oneByOne === whole, () => `byte by byte decodes to ${oneByOne.slice(0, 2000)}\none push to ${whole.slice(0, 2000)}`);
  }
}

export const memcachedDecoderTarget: FuzzTarget = {
  name: 'memcached-decoder',
  claim: 'same events for any chunking of text, meta and binary streams; no throw; nothing after a close; bounded buffer',
  ciRuns: 600,
  property: () => fc.property(inputArb, property),
};
