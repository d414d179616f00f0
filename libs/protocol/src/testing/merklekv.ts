/**
 * Helpers for the MerkleKV codec's specs (merklekv/) and its fuzz target: decode through the
 * public decoder and look at the result. Pure functions, no test framework: a failed expectation throws a plain Error.
 */
import fc from 'fast-check';

import { type Command, type ResultOf } from '#commands';

import { MerkleKvDecoder, type MerkleKvEvent, type MerkleKvDecoderOptions } from '../merklekv/decoder.js';
import { encodeMerkleKvReply } from '../merklekv/reply.js';
import { replyBuffer } from '../session/reply-bytes.js';

/** Events of `input` fed as the given chunks (one push of everything by default). */
export function decodeChunks(chunks: readonly Uint8Array[], options?: MerkleKvDecoderOptions): MerkleKvEvent[] {
  const events: MerkleKvEvent[] = [];
  const decoder = new MerkleKvDecoder((event) => events.push(event), options);
  for (const chunk of chunks) decoder.push(chunk);
  return events;
}

export const decode = (input: string | Uint8Array): MerkleKvEvent[] =>
  decodeChunks([typeof input === 'string' ? Buffer.from(input, 'utf8') : input]);

function single(line: string): MerkleKvEvent {
  const events = decode(`${line}\r\n`);
  if (events.length !== 1) throw new Error(`expected one event for ${JSON.stringify(line)}, got ${events.length}`);
  return events[0]!;
}

/** The command one request line decodes to (the line gets its `\r\n` here). */
export function parsed(line: string): Command {
  const event = single(line);
  if (event.kind !== 'command') throw new Error(`expected a command for ${JSON.stringify(line)}, got ${JSON.stringify(event)}`);
  return event.command;
}

/** The `ERROR` message one request line decodes to. */
export function rejected(line: string): string {
  const event = single(line);
  if (event.kind !== 'error') throw new Error(`expected an error for ${JSON.stringify(line)}, got ${event.kind}`);
  return event.message;
}

/** Plain data with bytes as hex and bigints as text, for cheap whole-transcript comparisons. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  if (typeof value === 'bigint') return `bigint:${value}`;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  }
  return value;
}

/** A stable text form of events. */
export const eventsText = (events: readonly MerkleKvEvent[]): string => JSON.stringify(plain(events));

/** The reply bytes as text; throws unless the text round-trips to exactly those bytes. */
export function replyOf<C extends Command>(command: C, result: ResultOf[C['name']]): string {
  const reply = replyBuffer(encodeMerkleKvReply(command, result));
  const text = reply.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(reply)) throw new Error('reply is not valid UTF-8');
  return text;
}

/** Byte strings made of command words, separators, white space and short random text. */
export const protocolishBytes: fc.Arbitrary<Buffer> = fc
  .array(
    fc.oneof(
      fc.constantFrom('GET', 'SET', 'DEL', 'INC', 'DEC', 'MGET', 'MSET', 'SCAN', 'HASH', 'SYNC', 'CLIENT', 'PING', 'REPLICATE'),
      fc.constantFrom(' ', '  ', '\t', '\r', '\n', '\r\n', '\u00a0', '\u3000', 'é', '🔑', '-', '+', '*', '9', '--full'),
      fc.string({ maxLength: 6 }),
    ),
    { maxLength: 40 },
  )
  .map((parts) => Buffer.from(parts.join(''), 'utf8'));
