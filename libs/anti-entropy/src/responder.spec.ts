import { type Entry } from '#crdt';
import { EMPTY_ROOT } from '#mst';
import { type Store } from '#store';
import { decodeReply, encodeRequest, type Op, type Reply } from './codec.js';
import { Responder } from './responder.js';
import { entries, openReplica, roots, set } from './testing/replicas.js';

const stamp = { hlc: { wall: 1_700_000_000_000, logical: 0 }, node: 'evil' };
const register = (value: string): Entry => ({ type: 'register', stamp, value: Buffer.from(value) });

describe('the responder', () => {
  let store: Store;
  let responder: Responder;
  let before: { roots: string[]; entries: number };
  beforeEach(async () => {
    store = await openReplica('r');
    for (let i = 0; i < 100; i++) await set(store, `k${i}`, `v${i}`);
    responder = new Responder({ store, limits: { maxOps: 8, maxKeys: 100, maxValueBytes: 1000, maxRequestBytes: 64 * 1024 } });
    before = { roots: roots(store), entries: entries(store).size };
  });
  afterEach(() => store.close());

  const ask = async (bytes: Uint8Array): Promise<Reply> => decodeReply(await responder.handle(bytes));
  const batch = (...ops: Op[]): Uint8Array => encodeRequest({ kind: 'batch', version: 1, ops });
  /** A key of `shard` (keys are spread over the 4 shards by hash). */
  const keyOf = (shard: number): string => {
    for (let i = 0; ; i++) if (store.shardOf(`x${i}`) === shard) return `x${i}`;
  };

  /** Every hostile request must get an error with this code and leave the store as it was. */
  async function refuses(bytes: Uint8Array, code: string): Promise<void> {
    expect(await ask(bytes)).toMatchObject({ kind: 'error', code });
    await new Promise((r) => setImmediate(r));
    expect(roots(store)).toEqual(before.roots);
    expect(entries(store).size).toBe(before.entries);
  }

  it('refuses garbage, truncation, another version and oversized requests', async () => {
    await refuses(new Uint8Array(0), 'DECODE');
    await refuses(Uint8Array.from([1, 0x42, 5, 0x46]), 'DECODE');
    await refuses(Uint8Array.from([9, 0x48]), 'VERSION');
    await refuses(new Uint8Array(64 * 1024 + 1), 'TOO_LARGE');
    await refuses(Buffer.from('SET k v\r\n'), 'VERSION');
  });

  it('refuses a wrong shard count or fanout at the hello', async () => {
    await refuses(encodeRequest({ kind: 'hello', version: 1, salt: 0, node: 'p', fanout: 16, shards: [{ root: EMPTY_ROOT, floor: stamp }] }), 'MISMATCH');
    const shards = Array.from({ length: 4 }, () => ({ root: EMPTY_ROOT, floor: stamp }));
    await refuses(encodeRequest({ kind: 'hello', version: 1, salt: 0, node: 'p', fanout: 32, shards }), 'MISMATCH');
  });

  it('refuses shards out of range and keys sent under another shard, before applying anything', async () => {
    const good: Op = { op: 'push', shard: 1, entries: [[keyOf(1), register('fine')]] };
    await refuses(batch(good, { op: 'fetch', shard: 4, keys: ['k1'], versions: [null] }), 'BAD_SHARD');
    await refuses(batch(good, { op: 'push', shard: 2, entries: [[keyOf(3), register('misfiled')]] }), 'BAD_SHARD');
    await refuses(batch(good, { op: 'range', shard: 0, after: keyOf(1) }), 'BAD_SHARD');
  });

  it('refuses keys no protocol could store and values over the limit', async () => {
    await refuses(batch({ op: 'push', shard: store.shardOf('a b'), entries: [['a b', register('x')]] }), 'BAD_KEY');
    await refuses(batch({ op: 'fetch', shard: 0, keys: [''], versions: [null] }), 'BAD_KEY');
    await refuses(batch({ op: 'push', shard: 0, entries: [[keyOf(0), register('x'.repeat(1001))]] }), 'TOO_LARGE');
  });

  it('refuses huge batches', async () => {
    const ops: Op[] = Array.from({ length: 9 }, () => ({ op: 'range', shard: 0, after: null }));
    await refuses(batch(...ops), 'TOO_LARGE');
    await refuses(batch({ op: 'fetch', shard: 0, keys: Array.from({ length: 101 }, () => keyOf(0)), versions: Array.from({ length: 101 }, () => null) }), 'TOO_LARGE');
  });

  it('refuses summaries of a tree version it never announced (bad hashes)', async () => {
    const bogus = new Uint8Array(32).fill(0xab);
    await refuses(batch({ op: 'summaries', shard: 0, request: { root: bogus, refs: [{ hash: bogus, lo: null }] } }), 'STALE');
  });

  it('answers well-formed requests, and merges pushes', async () => {
    const key = keyOf(2);
    const reply = await ask(batch({ op: 'push', shard: 2, entries: [[key, register('pushed')]] }, { op: 'fetch', shard: 2, keys: [key], versions: [null] }));
    expect(reply).toMatchObject({ kind: 'batch', results: [{ op: 'push', changed: 1 }, { op: 'fetch', answers: [{ entry: { type: 'register' }, want: false }] }] });
    expect(store.read(key)?.type).toBe('register');
    expect(responder.stats).toMatchObject({ merged: 1 });
  });

  it('says UNAVAILABLE while anti-entropy is paused here', async () => {
    const paused = new Responder({ store, available: () => false });
    expect(decodeReply(await paused.handle(batch({ op: 'push', shard: 0, entries: [[keyOf(0), register('x')]] })))).toMatchObject({ kind: 'error', code: 'UNAVAILABLE' });
    expect(roots(store)).toEqual(before.roots);
  });
});
