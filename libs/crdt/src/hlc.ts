/*
 * Hybrid logical clock.
 *
 * A timestamp is (wall, logical): wall is milliseconds since the Unix epoch, logical breaks ties
 * within one millisecond. The clock never goes backwards: a local event gets max(now, last) and,
 * when the wall clock has not moved past the last value, the same wall with logical + 1. When
 * logical would pass 65535 the clock borrows the next millisecond (wall + 1, logical 0), so
 * timestamps stay strictly increasing even under a burst of more than 65536 events per ms or a
 * wall clock that jumps backwards.
 *
 * observe() folds in a remote timestamp so that every later local timestamp is greater than
 * anything this node has seen. A remote timestamp further ahead of our wall clock than
 * maxDriftMs is refused (ClockDriftError, counted) instead of dragging our clock into the future:
 * one node with a wrong clock must not push every replica's clock ahead with it.
 *
 * Encoding: 8 bytes big-endian, 48-bit wall then 16-bit logical, so byte order is time order.
 */
import { ClockDriftError, CrdtError } from './errors.js';

/** wall: ms since Unix epoch (< 2^48); logical: 0..65535. */
export interface Hlc {
  readonly wall: number;
  readonly logical: number;
}

export const MAX_WALL = 2 ** 48 - 1;
export const MAX_LOGICAL = 0xffff;
export const ZERO_HLC: Hlc = Object.freeze({ wall: 0, logical: 0 });

export function compareHlc(a: Hlc, b: Hlc): number {
  return a.wall !== b.wall ? (a.wall < b.wall ? -1 : 1) : a.logical - b.logical;
}

export function isValidHlc(h: Hlc): boolean {
  const { wall, logical } = h;
  return (
    Number.isInteger(wall) && wall >= 0 && wall <= MAX_WALL && Number.isInteger(logical) && logical >= 0 && logical <= MAX_LOGICAL
  );
}

function assertHlc(h: Hlc): void {
  if (!isValidHlc(h)) throw new RangeError(`invalid HLC {wall: ${h.wall}, logical: ${h.logical}}`);
}

export interface HybridLogicalClockOptions {
  /** Wall clock in ms since the Unix epoch; default Date.now. May be non-monotonic. */
  now?: () => number;
  /** How far ahead of our wall clock a remote timestamp may be; default 60 000 ms. */
  maxDriftMs?: number;
}

export class HybridLogicalClock {
  readonly #now: () => number;
  readonly #maxDriftMs: number;
  #last: Hlc = ZERO_HLC;
  #driftRejections = 0;

  constructor(options: HybridLogicalClockOptions = {}) {
    this.#now = options.now ?? Date.now;
    const drift = options.maxDriftMs ?? 60_000;
    if (!(drift >= 0)) throw new RangeError(`maxDriftMs must be >= 0, got ${drift}`);
    this.#maxDriftMs = drift;
  }

  /** Timestamp for a local event: strictly greater than every timestamp issued or observed. */
  tick(): Hlc {
    const now = this.#wall();
    const last = this.#last;
    let next: Hlc;
    if (now > last.wall) next = { wall: now, logical: 0 };
    else if (last.logical < MAX_LOGICAL) next = { wall: last.wall, logical: last.logical + 1 };
    else if (last.wall < MAX_WALL) next = { wall: last.wall + 1, logical: 0 };
    else throw new RangeError('hybrid logical clock exhausted (wall at 2^48-1)');
    this.#last = next;
    return next;
  }

  /**
   * Merge a remote timestamp. If remote.wall > now()+maxDriftMs: throws ClockDriftError and
   * increments `driftRejections`, clock unchanged. A malformed timestamp throws RangeError.
   */
  observe(remote: Hlc): void {
    assertHlc(remote);
    const now = this.#wall();
    if (remote.wall > now + this.#maxDriftMs) {
      this.#driftRejections++;
      throw new ClockDriftError({ wall: remote.wall, logical: remote.logical }, now, this.#maxDriftMs);
    }
    if (compareHlc(remote, this.#last) > 0) this.#last = { wall: remote.wall, logical: remote.logical };
  }

  /**
   * Fold in a trusted timestamp, e.g. the greatest one found in local storage at start-up, with
   * no drift check: our own earlier stamps must stay behind us even if the wall clock went back
   * while we were down. A malformed timestamp throws RangeError.
   */
  advancePast(h: Hlc): void {
    assertHlc(h);
    if (compareHlc(h, this.#last) > 0) this.#last = { wall: h.wall, logical: h.logical };
  }

  /** The wall clock this clock reads (ms since the Unix epoch): deadlines kept on the same time as the stamps. */
  wallNow(): number {
    return this.#now();
  }

  /** How many remote timestamps observe() refused for drift. */
  get driftRejections(): number {
    return this.#driftRejections;
  }

  /** Last issued/observed value, without advancing. */
  peek(): Hlc {
    return this.#last;
  }

  /** The injected wall clock, made safe: an integer in [0, MAX_WALL] (NaN reads as 0). */
  #wall(): number {
    const n = Math.floor(this.#now());
    return n > 0 ? (n < MAX_WALL ? n : MAX_WALL) : 0;
  }
}

/** 8 bytes big-endian: 48-bit wall, 16-bit logical (byte order == time order). */
export function encodeHlc(h: Hlc): Uint8Array {
  const out = new Uint8Array(8);
  writeHlc(out, 0, h);
  return out;
}

/** Decode 8 bytes at `offset`; throws CrdtError('CORRUPT') when fewer than 8 bytes remain. */
export function decodeHlc(bytes: Uint8Array, offset = 0): Hlc {
  if (!Number.isInteger(offset) || offset < 0 || offset + 8 > bytes.length) {
    throw new CrdtError('CORRUPT', `HLC needs 8 bytes at offset ${offset}, have ${bytes.length}`);
  }
  return readHlc(bytes, offset);
}

/** @internal Writes 8 bytes; validates the value. */
export function writeHlc(out: Uint8Array, pos: number, h: Hlc): void {
  assertHlc(h);
  const hi = Math.floor(h.wall / 0x1_0000_0000);
  const lo = h.wall >>> 0;
  out[pos] = hi >>> 8;
  out[pos + 1] = hi & 0xff;
  out[pos + 2] = lo >>> 24;
  out[pos + 3] = (lo >>> 16) & 0xff;
  out[pos + 4] = (lo >>> 8) & 0xff;
  out[pos + 5] = lo & 0xff;
  out[pos + 6] = h.logical >>> 8;
  out[pos + 7] = h.logical & 0xff;
}

/** @internal Reads 8 bytes; the caller has checked the length. Every 8-byte value is a valid HLC. */
export function readHlc(b: Uint8Array, p: number): Hlc {
  const hi = (b[p]! << 8) | b[p + 1]!;
  const lo = ((b[p + 2]! << 24) | (b[p + 3]! << 16) | (b[p + 4]! << 8) | b[p + 5]!) >>> 0;
  return { wall: hi * 0x1_0000_0000 + lo, logical: (b[p + 6]! << 8) | b[p + 7]! };
}
