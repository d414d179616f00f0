/**
 * The replicated-change codec fed hostile payloads: random bytes, random bytes behind a valid
 * header, and valid changes with bytes flipped, inserted, removed or cut off. Decoding throws
 * ReplicationError('BAD_MESSAGE') and nothing else; whatever it accepts re-encodes to the same
 * bytes (one encoding per change), and the head decoder accepts whatever the whole decoder does.
 * Valid changes round-trip.
 */
import fc from 'fast-check';

import { type ChangeRecord, decodeChange, encodeChange, ReplicationError } from '#replication';

import { decodeChangeHead } from '../libs/replication/src/change-codec.js';
import { canon, changeArb } from '../libs/replication/src/testing/arbitraries.js';
import { mutatedArb } from './mutations.js';
import { check, hex, type FuzzTarget } from './target.js';

interface ChangeInput {
  /** Bytes to decode; `record` when they are its encoding, unchanged. */
  readonly bytes: Uint8Array;
  readonly record?: ChangeRecord;
  readonly shards: number | undefined;
}

const headerArb = fc.tuple(fc.constantFrom(0, 1, 2), fc.nat({ max: 0xffff })).map(([kind, shard]) => [1, kind, shard >> 8, shard & 0xff]);

const inputArb: fc.Arbitrary<ChangeInput> = fc.record({
  shards: fc.option(fc.constantFrom(1, 16, 4096), { freq: 2, nil: undefined }),
  payload: fc.oneof(
    { weight: 2, arbitrary: fc.uint8Array({ maxLength: 120 }).map((bytes) => ({ bytes })) },
    { weight: 2, arbitrary: fc.tuple(headerArb, fc.uint8Array({ maxLength: 120 })).map(([h, rest]) => ({ bytes: Uint8Array.from([...h, ...rest]) })) },
    { weight: 3, arbitrary: changeArb.map((record) => ({ bytes: encodeChange(record), record })) },
    { weight: 5, arbitrary: mutatedArb(changeArb.map(encodeChange)).map((bytes) => ({ bytes })) },
  ),
}).map(({ shards, payload }) => ({ shards, ...payload }));

/** 'ok' with the decoded value, or the error code; anything but a BAD_MESSAGE fails the run. */
function attempt<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    check(err instanceof ReplicationError && err.code === 'BAD_MESSAGE', () => `threw ${String(err)} (${(err as Error | undefined)?.constructor?.name}), not BAD_MESSAGE`);
    return undefined;
  }
}

function property({ bytes, record, shards }: ChangeInput): void {
  const options = shards === undefined ? {} : { shards };
  const decoded = attempt(() => decodeChange(bytes, options));
  const head = attempt(() => decodeChangeHead(bytes, options));
  if (decoded !== undefined) {
    check(head !== undefined, () => `the head decoder refuses ${hex(bytes)}, which the whole decoder accepts`);
    check(hex(encodeChange(decoded)) === hex(bytes), () => `accepted ${hex(bytes)} re-encodes to ${hex(encodeChange(decoded))}`);
  }
  if (record !== undefined && (shards === undefined || record.shard < shards)) {
    check(decoded !== undefined, () => `refuses the encoding of a valid change: ${hex(bytes)}`);
    const want = JSON.stringify(canon(record));
    check(JSON.stringify(canon(decoded)) === want, () => `round trip gives ${JSON.stringify(canon(decoded))}, not ${want}`);
  }
}

export const changeCodecTarget: FuzzTarget = {
  name: 'change-codec',
  claim: 'decode throws only BAD_MESSAGE; what it accepts re-encodes to the same bytes; valid changes round-trip',
  ciRuns: 1000,
  property: () => fc.property(inputArb, property),
};
