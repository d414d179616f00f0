import { hash } from 'node:crypto';
import { encodeEntryShared } from './codec.js';
import { type Entry } from './entry.js';

/**
 * 32-byte SHA-256 over the canonical encoding: what the Merkle Search Tree stores per key; covers
 * type, state, stamp and tombstone.
 *
 * One-shot `crypto.hash` measured ~1.6x faster than `createHash().update().digest()` for
 * 64-200 byte inputs on Node 20 (≈0.8 µs vs ≈1.3 µs); the encoding goes to a reused scratch
 * buffer, so a digest allocates only its result.
 */
export function entryDigest(e: Entry): Uint8Array {
  return hash('sha256', encodeEntryShared(e), 'buffer');
}

/**
 * memcached's CAS value (and HTTP's ETag) of a live entry: the first 8 bytes of the digest of its
 * state without the expiry, less the top bit, as an integer in [1, 2^63) (0 is memcached's "no
 * CAS"). 63 bits, because clients hold CAS values in signed 64-bit integers (Java's long) or
 * print them into 19 digits plus NUL (libmemcached refuses a 20-digit CAS: "MEMORY ALLOCATION
 * FAILURE" from pylibmc's cas).
 *
 * Derived, not counted: a separate per-key counter would have to be stored and replicated with
 * the entry, while the state already changes with every write of the value (a new stamp, a
 * counter's new totals, a set's new tags), identically on every replica and across restarts.
 * The expiry is left out because memcached's touch keeps the CAS value. Two different states
 * share a value with probability 2^-63 per comparison.
 */
export function entryCas(e: Entry): bigint {
  const state = e.type !== 'tombstone' && e.expiry !== undefined ? withoutExpiry(e) : e;
  const cas = hash('sha256', encodeEntryShared(state), 'buffer').readBigUInt64BE(0) & 0x7fff_ffff_ffff_ffffn;
  return cas === 0n ? 1n : cas;
}

function withoutExpiry(e: Entry): Entry {
  const { expiry: _expiry, ...rest } = e as Entry & { expiry?: unknown };
  return rest as Entry;
}
