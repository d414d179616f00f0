/**
 * Expiry times as the protocols spell them, turned into the one form the command layer stores:
 * an absolute time in ms since the Unix epoch (`expiresAt`; undefined: never). An absolute time
 * is what every replica can agree on: each one expires the key at the same moment of its clock.
 */
import { KvError } from './errors.js';

/** memcached: an exptime above this many seconds is an absolute Unix time, not an offset. */
export const MEMCACHED_RELATIVE_LIMIT_SECONDS = 60 * 60 * 24 * 30;

/** An expiry that has always passed: what "already expired" (a negative exptime) is stored as. */
export const EXPIRED = 1;

/** The latest expiry the entry codec carries (ms; the hybrid clock's 48-bit wall). */
const MAX_EXPIRES_AT = 2 ** 48 - 1;

/**
 * memcached's exptime: 0 never expires; up to 30 days, seconds from now; beyond, an absolute Unix
 * time in seconds (one in the past has expired); negative: already expired.
 */
export function memcachedExpiry(exptime: number, nowMs: number): number | undefined {
  if (!Number.isSafeInteger(exptime)) throw new KvError('BAD_REQUEST', 'bad exptime');
  if (exptime === 0) return undefined;
  if (exptime < 0) return EXPIRED;
  const at = exptime <= MEMCACHED_RELATIVE_LIMIT_SECONDS ? nowMs + exptime * 1000 : exptime * 1000;
  return clampExpiry(at);
}

/**
 * A time-to-live in whole seconds from now (EXPIRE, HTTP `?ttl=`): 0 or less has already expired,
 * as in Redis. Not an integer: BAD_REQUEST.
 */
export function expiryAfterSeconds(seconds: number, nowMs: number): number {
  if (!Number.isSafeInteger(seconds)) throw new KvError('BAD_REQUEST', 'ttl must be an integer number of seconds');
  return seconds <= 0 ? EXPIRED : clampExpiry(nowMs + seconds * 1000);
}

/** Whole seconds left (rounded up, so a live key never shows 0); 0 once it has passed. */
export function remainingSeconds(expiresAt: number, nowMs: number): number {
  return Math.max(0, Math.ceil((expiresAt - nowMs) / 1000));
}

/** Whether an expiry (undefined: never) has passed at `nowMs`. */
export function hasExpired(expiresAt: number | undefined, nowMs: number): boolean {
  return expiresAt !== undefined && expiresAt <= nowMs;
}

function clampExpiry(at: number): number {
  return Math.min(Math.max(at, EXPIRED), MAX_EXPIRES_AT);
}
