/**
 * The anti-entropy session codec fed hostile messages: random bytes, random bytes behind a valid
 * header, and valid requests and replies of every kind with bytes flipped, inserted, removed or
 * cut off, decoded as a request and as a reply. Decoding throws AntiEntropyError('DECODE' or
 * 'VERSION') and nothing else; whatever it accepts encodes again, and that encoding decodes and
 * encodes to itself. Valid messages round-trip to their own bytes.
 */
import { createHash } from 'node:crypto';

import fc from 'fast-check';

import {
  ANTI_ENTROPY_ERROR_CODES,
  AntiEntropyError,
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  type Op,
  type OpResult,
  type Reply,
  type Request,
  Sketch,
} from '#anti-entropy';
import { type Stamp, ZERO_STAMP } from '#crdt';
import { HASH_BYTES, MerkleSearchTree, type NodeSummary, summarize } from '#mst';

import { anyEntryArb, stampArb } from '../libs/crdt/src/testing/simulation.js';
import { nodeIdArb } from '../libs/replication/src/testing/arbitraries.js';
import { mutatedArb } from './mutations.js';
import { check, hex, type FuzzTarget } from './target.js';

const digest = (text: string): Uint8Array => createHash('sha256').update(text).digest();

/** Root nodes of a few real trees: a summary's bytes must be a node, which random bytes never are. */
const SUMMARIES: readonly NodeSummary[] = [1, 3, 40, 400].flatMap((size) =>
  [4, 16].map((fanout) => {
    const tree = MerkleSearchTree.fromEntries(
      Array.from({ length: size }, (_, i) => [Buffer.from(`key-${i}`), digest(`${size}/${i}`)] as const),
      { fanout },
    );
    return summarize(tree, { hash: tree.root(), lo: null })!;
  }),
);

const hashArb = fc.uint8Array({ minLength: HASH_BYTES, maxLength: HASH_BYTES });
const shardArb = fc.nat({ max: 4095 });
const keyArb = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 12 });
const floorArb: fc.Arbitrary<Stamp> = fc.oneof(fc.constant(ZERO_STAMP), stampArb);
const summaryArb = fc.constantFrom(...SUMMARIES);
const pairsArb = fc.array(fc.tuple(keyArb, anyEntryArb), { maxLength: 4 });
const boundArb = fc.uint8Array({ minLength: 1, maxLength: 12 });
const fingerprintArb = fc.uint8Array({ minLength: 6, maxLength: 6 });
const saltArb = fc.nat({ max: 0xffff_ffff });
const spanArb = fc.array(boundArb, { maxLength: 3 }).chain((cuts) =>
  fc.record({ lo: fc.option(boundArb), hi: fc.option(boundArb), cuts: fc.constant(cuts), fingerprints: fc.array(fingerprintArb, { minLength: cuts.length + 1, maxLength: cuts.length + 1 }) }),
);
const sketchArb = fc.integer({ min: 1, max: 3 }).chain((quarter) =>
  fc.array(fc.tuple(fc.nat({ max: 0xffff_ffff }), fc.nat({ max: 0xffff_ffff })), { maxLength: 5 }).map((items) => {
    const sketch = new Sketch(4 * quarter);
    for (const [hi, lo] of items) sketch.insert(hi, lo);
    return sketch;
  }),
);

/** Ops only version 2 speaks. */
const v2OpArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('sketch' as const), shard: shardArb, root: hashArb, salt: saltArb, cells: fc.nat({ max: 1 << 20 }), spans: fc.array(spanArb, { maxLength: 3 }) }),
  fc.record({
    op: fc.constant('resolve' as const),
    shard: shardArb,
    root: hashArb,
    salt: saltArb,
    spans: fc.array(fc.record({ lo: fc.option(boundArb), hi: fc.option(boundArb), keyFingerprints: fc.array(fc.nat({ max: (1 << 28) - 1 }), { maxLength: 4 }) }), { maxLength: 3 }),
  }),
  fc.record({ op: fc.constant('verify' as const), shard: shardArb }),
);

const v2ResultArb: fc.Arbitrary<OpResult> = fc.oneof(
  fc.record({ op: fc.constant('sketch' as const), differs: fc.array(fc.boolean(), { maxLength: 20 }), items: fc.nat({ max: 0xffff_ffff }), sketch: sketchArb }),
  fc.record({ op: fc.constant('resolve' as const), entries: pairsArb }),
  fc.record({ op: fc.constant('verify' as const), root: hashArb }),
);

const topArb = fc.array(boundArb, { maxLength: 4 }).chain((keys) =>
  fc.record({ layer: fc.nat({ max: 255 }), keys: fc.constant(keys), fingerprints: fc.array(fingerprintArb, { minLength: keys.length + 1, maxLength: keys.length + 1 }) }),
);

const v1OpArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant('summaries' as const),
    shard: shardArb,
    request: fc.record({ root: hashArb, refs: fc.array(fc.record({ hash: hashArb, lo: fc.option(fc.uint8Array({ maxLength: 12 })) }), { maxLength: 4 }) }),
  }),
  fc
    .array(fc.tuple(keyArb, fc.option(fc.record({ type: fc.constantFrom('register' as const, 'tombstone' as const, 'counter' as const, 'set' as const), stamp: stampArb }))), { maxLength: 4 })
    .chain((asked) => fc.record({ op: fc.constant('fetch' as const), shard: shardArb, keys: fc.constant(asked.map(([k]) => k)), versions: fc.constant(asked.map(([, v]) => v)) })),
  fc.record({ op: fc.constant('push' as const), shard: shardArb, entries: pairsArb }),
  fc.record({ op: fc.constant('range' as const), shard: shardArb, after: fc.option(keyArb) }),
);

const v1ResultArb: fc.Arbitrary<OpResult> = fc.oneof(
  fc.record({ op: fc.constant('summaries' as const), response: fc.record({ nodes: fc.array(fc.option(summaryArb), { maxLength: 3 }) }) }),
  fc.record({ op: fc.constant('fetch' as const), answers: fc.array(fc.record({ entry: fc.option(anyEntryArb), want: fc.boolean() }), { maxLength: 4 }) }),
  fc.record({ op: fc.constant('push' as const), changed: fc.nat({ max: 0xffff_ffff }) }),
  fc.record({ op: fc.constant('range' as const), entries: pairsArb, more: fc.boolean() }),
);

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  fc.record({
    kind: fc.constant('hello' as const),
    version: fc.constantFrom(1 as const, 2 as const),
    node: nodeIdArb,
    fanout: fc.nat({ max: 255 }),
    salt: saltArb,
    shards: fc.array(fc.record({ root: hashArb, floor: floorArb }), { maxLength: 6 }),
  }).map((hello) => (hello.version === 1 ? { ...hello, salt: 0 } : hello)),
  fc.record({ kind: fc.constant('batch' as const), version: fc.constant(1 as const), ops: fc.array(v1OpArb, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('batch' as const), version: fc.constant(2 as const), ops: fc.array(fc.oneof(v1OpArb, v2OpArb), { maxLength: 5 }) }),
);

const replyArb: fc.Arbitrary<Reply> = fc.oneof(
  fc.record({
    kind: fc.constant('hello' as const),
    version: fc.constant(1 as const),
    node: nodeIdArb,
    clean: fc.boolean(),
    shards: fc.array(
      fc.option(hashArb).chain((root) => fc.record({ root: fc.constant(root), floor: floorArb, summary: root === null ? fc.constant(null) : fc.option(summaryArb), top: fc.constant(null) })),
      { maxLength: 6 },
    ),
  }),
  fc.record({
    kind: fc.constant('hello' as const),
    version: fc.constant(2 as const),
    node: nodeIdArb,
    clean: fc.boolean(),
    shards: fc.array(
      fc.option(hashArb).chain((root) => fc.record({ root: fc.constant(root), floor: floorArb, summary: fc.constant(null), top: root === null ? fc.constant(null) : fc.option(topArb) })),
      { maxLength: 6 },
    ),
  }),
  fc.record({ kind: fc.constant('batch' as const), version: fc.constant(1 as const), results: fc.array(v1ResultArb, { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('batch' as const), version: fc.constant(2 as const), results: fc.array(fc.oneof(v1ResultArb, v2ResultArb), { maxLength: 5 }) }),
  fc.record({ kind: fc.constant('error' as const), code: fc.constantFrom(...ANTI_ENTROPY_ERROR_CODES), message: fc.string({ unit: 'grapheme', maxLength: 200 }) }),
);

const HEADERS = [0x48, 0x68, 0x42, 0x62, 0x45].flatMap((kind) => [[1, kind], [2, kind]]);

type AeInput =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array }
  | { readonly kind: 'request'; readonly bytes: Uint8Array }
  | { readonly kind: 'reply'; readonly bytes: Uint8Array };

const inputArb: fc.Arbitrary<AeInput> = fc.oneof(
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ kind: 'bytes' as const, bytes })) },
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.constantFrom(...HEADERS), fc.uint8Array({ maxLength: 200 }))
      .map(([header, rest]) => ({ kind: 'bytes' as const, bytes: Uint8Array.from([...header, ...rest]) })),
  },
  { weight: 2, arbitrary: requestArb.map((r) => ({ kind: 'request' as const, bytes: encodeRequest(r) })) },
  { weight: 2, arbitrary: replyArb.map((r) => ({ kind: 'reply' as const, bytes: encodeReply(r) })) },
  { weight: 4, arbitrary: mutatedArb(fc.oneof(requestArb.map(encodeRequest), replyArb.map(encodeReply))).map((bytes) => ({ kind: 'bytes' as const, bytes })) },
);

function attempt<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (err) {
    check(
      err instanceof AntiEntropyError && (err.code === 'DECODE' || err.code === 'VERSION'),
      () => `threw ${String(err)} (${(err as Error | undefined)?.constructor?.name}), not DECODE or VERSION`,
    );
    return undefined;
  }
}

/** Whatever `decode` accepts has an encoding, which is a fixed point of decode-then-encode. */
function settles<T>(bytes: Uint8Array, decode: (b: Uint8Array) => T, encode: (m: T) => Uint8Array): boolean {
  const decoded = attempt(() => decode(bytes));
  if (decoded === undefined) return false;
  const again = encode(decoded);
  const twice = encode(decode(again));
  check(hex(twice) === hex(again), () => `${hex(bytes)} re-encodes to ${hex(again)}, which re-encodes to ${hex(twice)}`);
  return hex(again) === hex(bytes);
}

function property(input: AeInput): void {
  const limits = { maxKeyBytes: 64, maxRefs: 8 };
  const asRequest = settles(input.bytes, (b) => decodeRequest(b), encodeRequest);
  const asReply = settles(input.bytes, (b) => decodeReply(b), encodeReply);
  settles(input.bytes, (b) => decodeRequest(b, limits), encodeRequest);
  settles(input.bytes, (b) => decodeReply(b, limits), encodeReply);
  if (input.kind === 'request') check(asRequest, () => `a valid request does not round-trip: ${hex(input.bytes)}`);
  if (input.kind === 'reply') check(asReply, () => `a valid reply does not round-trip: ${hex(input.bytes)}`);
}

export const antiEntropyCodecTarget: FuzzTarget = {
  name: 'anti-entropy-codec',
  claim: 'decode throws only DECODE/VERSION; accepted messages re-encode stably; valid messages round-trip',
  ciRuns: 600,
  property: () => fc.property(inputArb, property),
};
