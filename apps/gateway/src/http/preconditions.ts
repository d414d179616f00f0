import { KvError } from '#commands';

/**
 * HTTP's conditional requests over the command layer's CAS values. An ETag is the key's CAS value
 * (unsigned 64-bit) as 16 hex digits in quotes: strong, since it changes with every write of the
 * value. Weak ETags (`W/"..."`) never match a strong comparison, which If-Match requires.
 */
export type Precondition =
  | { readonly kind: 'none' }
  /** `If-None-Match: *`: only where the key is absent. */
  | { readonly kind: 'absent' }
  /** `If-Match: *`: only where the key is live. */
  | { readonly kind: 'exists' }
  /** `If-Match: "etag", ...`: only where the key's CAS value is one of these. */
  | { readonly kind: 'match'; readonly etags: readonly bigint[] };

export const etagOf = (cas: bigint): string => `"${cas.toString(16).padStart(16, '0')}"`;

const STRONG_ETAG = /^"([0-9a-f]{16})"$/;
const NO_MATCH = 0n;

/**
 * `*` or a comma-separated list of ETags. An ETag this server could not have issued (another
 * format, or weak) is kept as one that matches nothing, so the request gets 412 as HTTP says.
 */
export function parseIfMatch(header: string): Precondition {
  const trimmed = header.trim();
  if (trimmed === '*') return { kind: 'exists' };
  const tags = trimmed.split(',').map((tag) => tag.trim());
  if (tags.some((tag) => tag === '')) throw new KvError('BAD_REQUEST', `If-Match is not a list of ETags: '${header}'`);
  return { kind: 'match', etags: tags.map((tag) => BigInt(`0x${STRONG_ETAG.exec(tag)?.[1] ?? NO_MATCH.toString(16)}`)) };
}
