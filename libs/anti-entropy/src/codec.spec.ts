import fc from 'fast-check';
import { type Entry, ZERO_STAMP } from '#crdt';
import { EMPTY_ROOT, summarize } from '#mst';
import {
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
  PROTOCOL_VERSION,
  type Reply,
  type Request,
} from './codec.js';
import { AntiEntropyError } from './errors.js';
import { Sketch } from './sketch.js';
import { add, del, inc, openReplica, set } from './testing/replicas.js';

const SEED = 0xc0dec;
const stamp = { hlc: { wall: 1_700_000_000_000, logical: 3 }, node: 'n1' };
const register: Entry = { type: 'register', stamp, value: Buffer.from('hello world') };
const root = new Uint8Array(32).fill(7);
const fp = (n: number): Uint8Array => new Uint8Array(6).fill(n);

function sketch(): Sketch {
  const s = new Sketch(8);
  s.insert(0x1234, 0x5678);
  s.insert(0xffff_ffff, 1);
  return s;
}

async function samples(): Promise<{ requests: Request[]; replies: Reply[] }> {
  const store = await openReplica('n1', 2);
  for (let i = 0; i < 40; i++) await set(store, `k${i}`, `v${i}`);
  await inc(store, 'counter', 5n);
  await add(store, 'tags', 'red');
  await del(store, 'k3');
  const tree = store.shardSnapshot(0);
  const summary = summarize(tree, { hash: tree.root(), lo: null })!;
  const entries = [...store.shardEntries(0)] as [string, Entry][];
  await store.close();
  return {
    requests: [
      { kind: 'hello', version: 1, salt: 0, node: 'n1', fanout: 16, shards: [{ root, floor: ZERO_STAMP }, { root: EMPTY_ROOT, floor: stamp }] },
      { kind: 'hello', version: 1, salt: 0, node: 'n', fanout: 16, shards: [] },
      {
        kind: 'batch',
        version: 1,
        ops: [
          { op: 'summaries', shard: 1, request: { root, refs: [{ hash: root, lo: null }, { hash: root, lo: Buffer.from('k1') }] } },
          { op: 'fetch', shard: 0, keys: ['k1', 'ключ', '🔑'], versions: [null, { type: 'counter', stamp }, { type: 'set', stamp: ZERO_STAMP }] },
          { op: 'push', shard: 3, entries: [['a', register], ...entries.slice(0, 5)] },
          { op: 'range', shard: 4095, after: null },
          { op: 'range', shard: 2, after: 'k9' },
        ],
      },
      { kind: 'batch', version: 1, ops: [] },
      {
        kind: 'batch',
        version: 4,
        ops: [
          {
            op: 'sketch',
            shard: 2,
            root,
            salt: 9,
            cells: 0,
            spans: [{ lo: Buffer.from('k1'), hi: Buffer.from('k3'), cuts: [Buffer.from('k2')], fingerprints: [] }],
            pieces: { layer: 1, fingerprints: [Uint32Array.of(4, 5), Uint32Array.of(6)] },
            known: true,
          },
        ],
      },
      {
        kind: 'batch',
        version: 3,
        ops: [
          { op: 'sketch', shard: 1, root, salt: 7, cells: 0, spans: [{ lo: null, hi: Buffer.from('k5'), cuts: [Buffer.from('k2')], fingerprints: [fp(1), fp(2)] }] },
          {
            op: 'sketch',
            shard: 0,
            root,
            salt: 7,
            cells: 8,
            spans: [{ lo: Buffer.from('k1'), hi: null, cuts: [Buffer.from('k4'), Buffer.from('k45')], fingerprints: [fp(3), fp(4), fp(5)] }],
            pieces: { layer: 1, fingerprints: [Uint32Array.of(1, 0xffff_ffff), Uint32Array.of(), Uint32Array.of(9)] },
          },
        ],
      },
    ],
    replies: [
      {
        kind: 'hello',
        version: 1,
        node: 'n2',
        clean: true,
        shards: [
          { root: null, floor: ZERO_STAMP, summary: null, top: null },
          { root, floor: stamp, summary, top: null },
          { root, floor: ZERO_STAMP, summary: null, top: null },
        ],
      },
      {
        kind: 'batch',
        version: 1,
        results: [
          { op: 'summaries', response: { nodes: [summary, null] } },
          {
            op: 'fetch',
            answers: [
              { entry: register, want: false },
              { entry: null, want: true },
              { entry: null, want: false },
              ...entries.slice(0, 3).map(([, entry]) => ({ entry, want: true })),
            ],
          },
          { op: 'push', changed: 17 },
          { op: 'range', entries: entries.slice(0, 4), more: true },
          { op: 'range', entries: [], more: false },
        ],
      },
      { kind: 'error', code: 'BAD_SHARD', message: 'shard 99 outside 0..15' },
      {
        kind: 'batch',
        version: 4,
        results: [{ op: 'deferred' }, { op: 'verify', root }, { op: 'deferred' }, { op: 'refine', differs: [false, true, true], pieces: [[true, false, true], null] }],
      },
      {
        kind: 'batch',
        version: 3,
        results: [
          { op: 'sketch', differs: [true, false, true, true], items: 12, sketch: sketch(), pieces: [[false, true], null, Array.from({ length: 9 }, (_, i) => i === 8)] },
          { op: 'sketch', differs: [false, true], items: 3, sketch: sketch() },
        ],
      },
    ],
  };
}

/** Decoding must succeed or fail with this library's error, never anything else. */
function decodesOrRefuses(decode: () => unknown): void {
  try {
    decode();
  } catch (err) {
    expect(err).toBeInstanceOf(AntiEntropyError);
    expect(['DECODE', 'VERSION']).toContain((err as AntiEntropyError).code);
  }
}

describe('the session codec', () => {
  it('round-trips every message kind', async () => {
    const { requests, replies } = await samples();
    for (const request of requests) {
      const bytes = encodeRequest(request);
      expect(encodeRequest(decodeRequest(bytes))).toEqual(bytes);
    }
    for (const reply of replies) {
      const bytes = encodeReply(reply);
      expect(encodeReply(decodeReply(bytes))).toEqual(bytes);
    }
    const decoded = decodeReply(encodeReply(replies[1]!));
    expect(decoded.kind === 'batch' && decoded.results[1]).toMatchObject({ op: 'fetch', answers: expect.arrayContaining([{ entry: null, want: true }]) });
  });

  it('refuses every truncation and any trailing byte with DECODE', async () => {
    const { requests, replies } = await samples();
    const all = [...requests.map((r) => ['request', encodeRequest(r)] as const), ...replies.map((r) => ['reply', encodeReply(r)] as const)];
    for (const [kind, bytes] of all) {
      const decode = kind === 'request' ? decodeRequest : decodeReply;
      for (let cut = 0; cut < bytes.length; cut++) {
        expect(() => decode(bytes.subarray(0, cut))).toThrow(expect.objectContaining({ code: 'DECODE' }));
      }
      expect(() => decode(Buffer.concat([bytes, Buffer.from([0])]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
    }
  });

  it('reads sketches with pieces only from version 3 on', async () => {
    const { requests, replies } = await samples();
    for (const message of [requests.at(-1)!, replies.at(-1)!]) {
      const bytes = message.kind === 'batch' && 'ops' in message ? encodeRequest(message).slice() : encodeReply(message as Reply).slice();
      bytes[0] = 2;
      const decode = 'ops' in message ? decodeRequest : decodeReply;
      expect(() => decode(bytes)).toThrow(expect.objectContaining({ code: 'DECODE' }));
    }
  });

  it('reads deferred and refine results and sketches of ranges known to differ only from version 4 on, each in its place', async () => {
    const { requests, replies } = await samples();
    const reply = encodeReply(replies.at(-2)!).slice();
    expect(decodeReply(reply)).toMatchObject({ kind: 'batch', results: [{ op: 'deferred' }, { op: 'verify' }, { op: 'deferred' }, { op: 'refine' }] });
    const request = encodeRequest(requests.at(-2)!).slice();
    expect(decodeRequest(request)).toMatchObject({ kind: 'batch', ops: [{ op: 'sketch', known: true, spans: [{ fingerprints: [] }] }] });
    for (const bytes of [reply, request]) {
      bytes[0] = 3;
      const decode = bytes === reply ? decodeReply : decodeRequest;
      expect(() => decode(bytes)).toThrow(expect.objectContaining({ code: 'DECODE' }));
    }
    // A result type in place of an op, and an op type in place of a result.
    for (const type of [0x44, 0x4e]) expect(() => decodeRequest(Uint8Array.from([4, 0x42, 1, type, 0]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
    expect(() => decodeReply(Uint8Array.from([4, 0x62, 1, 0x4c]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
  });

  it('refuses another protocol version with VERSION', async () => {
    const bytes = encodeRequest((await samples()).requests[0]!).slice();
    bytes[0] = PROTOCOL_VERSION + 1;
    expect(() => decodeRequest(bytes)).toThrow(expect.objectContaining({ code: 'VERSION' }));
  });

  it('survives every single-byte corruption of every sample', async () => {
    const { requests, replies } = await samples();
    for (const bytes of [...requests.map(encodeRequest), ...replies.map(encodeReply)]) {
      for (let i = 0; i < bytes.length; i++) {
        for (const value of [0x00, 0xff, bytes[i]! ^ 0x01]) {
          const corrupt = bytes.slice();
          corrupt[i] = value;
          decodesOrRefuses(() => decodeRequest(corrupt));
          decodesOrRefuses(() => decodeReply(corrupt));
        }
      }
    }
  });

  it('survives garbage (property)', () => {
    const header = fc.constantFrom(0x48, 0x68, 0x42, 0x62, 0x45).map((kind) => [1, kind]);
    const garbage = fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(header, fc.uint8Array({ maxLength: 200 })).map(([h, rest]) => Uint8Array.from([...h, ...rest])));
    fc.assert(
      fc.property(garbage, (bytes) => {
        decodesOrRefuses(() => decodeRequest(bytes));
        decodesOrRefuses(() => decodeReply(bytes));
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('reads an error code it does not know as PROTOCOL, keeping the text', () => {
    const bytes = encodeReply({ kind: 'error', code: 'SOMETHING_NEW' as 'DECODE', message: 'later version' });
    expect(decodeReply(bytes)).toEqual({ kind: 'error', code: 'PROTOCOL', message: 'SOMETHING_NEW: later version' });
  });

  it('bounds what a length may claim before allocating', () => {
    // A batch claiming 2^32 - 1 ops in 7 bytes.
    expect(() => decodeRequest(Uint8Array.from([1, 0x42, 0xff, 0xff, 0xff, 0xff, 0x0f]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
    // A fetch of a key claiming a 1 GiB length.
    expect(() => decodeRequest(Uint8Array.from([1, 0x42, 1, 0x46, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x04, 0]))).toThrow(expect.objectContaining({ code: 'DECODE' }));
  });
});
