/**
 * Helpers for the memcached decoder's specs and fuzz target: decode through the public
 * decoder, and look at events as plain text. Pure functions, no test framework.
 */
import { MemcachedDecoder, type MemcachedDecoderOptions, type MemcachedEvent } from '../memcached/decoder.js';

export const MEMCACHED_SPEC_LIMITS: MemcachedDecoderOptions = { maxValueBytes: 1024 };

/** Events of the stream fed as the given chunks. */
export function decodeMemcachedChunks(chunks: readonly Uint8Array[], options: MemcachedDecoderOptions = MEMCACHED_SPEC_LIMITS): MemcachedEvent[] {
  const events: MemcachedEvent[] = [];
  const decoder = new MemcachedDecoder((event) => events.push(event), options);
  for (const chunk of chunks) decoder.push(chunk);
  return events;
}

export const decodeMemcached = (input: string | Uint8Array, options?: MemcachedDecoderOptions): MemcachedEvent[] =>
  decodeMemcachedChunks([typeof input === 'string' ? Buffer.from(input, 'latin1') : input], options);

/** Plain data with bytes as hex and bigints as text, for whole-transcript comparisons. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return `hex:${Buffer.from(value).toString('hex')}`;
  if (typeof value === 'bigint') return `bigint:${value}`;
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plain(item)]));
  return value;
}

export const memcachedEventsText = (events: readonly MemcachedEvent[]): string => JSON.stringify(plain(events));
