/**
 * Failed sign-ins per source address, as a leaky bucket: each attempt is charged before its
 * password is checked and refunded if it was right, so a source has at most `burst` failed (or
 * in-flight) attempts outstanding, and is forgiven one every `refillMs`. Beyond that its attempts
 * are refused at once, without a scrypt: guessing slows to one password per `refillMs`, and a
 * flood of sign-ins cannot fill libuv's thread pool. Every protocol signs in through
 * {@link AccessControl.signIn}, so the MerkleKV text, memcached and HTTP attempts of one address
 * share its bucket.
 *
 * Attempts are refused whatever their password while the bucket is full (a right one included):
 * otherwise a refusal that depends on the password would still tell a guesser when it is right.
 */
import { KvError } from '../errors.js';

export interface SignInLimits {
  /** Failed attempts a source may have outstanding. */
  readonly burst: number;
  /** One failure is forgiven per this many milliseconds. */
  readonly refillMs: number;
  /** Sources remembered at most: beyond it the least recently charged is forgotten. */
  readonly maxSources: number;
}

export const DEFAULT_SIGN_IN_LIMITS: SignInLimits = { burst: 10, refillMs: 6_000, maxSources: 10_000 };

interface Bucket {
  level: number;
  at: number;
}

export class SignInLimiter {
  readonly #buckets = new Map<string, Bucket>();

  constructor(
    private readonly limits: SignInLimits = DEFAULT_SIGN_IN_LIMITS,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Throws UNAUTHENTICATED, saying when to retry, while `source` has no attempt left. */
  admit(source: string): void {
    const bucket = this.#buckets.get(source);
    if (bucket === undefined) return;
    const level = this.#drain(bucket);
    if (level + 1 > this.limits.burst) {
      const seconds = Math.ceil(((level + 1 - this.limits.burst) * this.limits.refillMs) / 1000);
      throw new KvError('UNAUTHENTICATED', `too many failed sign-ins from this address: try again in ${seconds} s`);
    }
  }

  /** Charges one attempt to `source` (admitted just before). */
  charge(source: string): void {
    const bucket = this.#buckets.get(source) ?? { level: 0, at: this.clock() };
    this.#drain(bucket);
    bucket.level += 1;
    // Re-inserted so that the map's order is the order of last charge.
    this.#buckets.delete(source);
    this.#buckets.set(source, bucket);
    if (this.#buckets.size > this.limits.maxSources) this.#buckets.delete(this.#buckets.keys().next().value!);
  }

  /** The attempt charged was right: it costs nothing. */
  refund(source: string): void {
    const bucket = this.#buckets.get(source);
    if (bucket) bucket.level = Math.max(0, bucket.level - 1);
  }

  /** The bucket's level now, what has leaked since its last update taken off. */
  #drain(bucket: Bucket): number {
    const now = this.clock();
    bucket.level = Math.max(0, bucket.level - (now - bucket.at) / this.limits.refillMs);
    bucket.at = now;
    return bucket.level;
  }
}
