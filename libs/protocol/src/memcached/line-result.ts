import { type Framing, type MemcachedFailure, type MemcachedRequest } from './request.js';

/** What the decoder does with one text command line. */
export type LineResult =
  | { readonly kind: 'request'; readonly request: MemcachedRequest }
  /** Read `bytes` bytes and `\r\n`, then `complete` gives the request. */
  | { readonly kind: 'data'; readonly bytes: number; readonly complete: (value: Buffer) => MemcachedRequest; readonly framing: Framing }
  /** Answer the failure; then skip `swallow` bytes (a refused storage command's data block and its `\r\n`). */
  | { readonly kind: 'failure'; readonly failure: MemcachedFailure; readonly framing: Framing; readonly swallow: number };

export interface LineLimits {
  readonly maxValueBytes: number;
}

export const TEXT_FRAMING: Framing = { wire: 'text', noreply: false };

export const clientFailure = (message: string, framing: Framing = TEXT_FRAMING, swallow = 0): LineResult => ({
  kind: 'failure',
  failure: { kind: 'client', message },
  framing,
  swallow,
});
