import { HybridLogicalClock } from '#crdt';
import { type Item } from './command.js';
import { EXPIRED } from './expiry.js';
import { bytes, executorFixture, type ExecutorFixture, str } from './testing/executor-fixture.js';

describe('item commands', () => {
  let kv: ExecutorFixture;
  /** The time both the reads and the store's clock see: moved by the tests, never slept. */
  let clock = 1_700_000_000_000;
  beforeEach(async () => {
    clock = 1_700_000_000_000;
    const now = (): number => clock;
    kv = await executorFixture({ maxValueBytes: 32, now, store: { clock: new HybridLogicalClock({ now }) } });
  });
  afterEach(() => kv.close());

  const lookup = async (key: string): Promise<Item | undefined> => (await kv.run({ name: 'LOOKUP', keys: [key] }))[0];
  const store = (key: string, value: string, extra: Partial<{ mode: 'set' | 'add' | 'replace' | 'append' | 'prepend'; cas: bigint; flags: number; expiresAt: number }> = {}) =>
    kv.run({ name: 'STORE', key, value: bytes(value), mode: 'set', ...extra });

  it('STORE keeps flags and expiry with the value; LOOKUP returns them with a CAS value', async () => {
    const stored = await store('k', 'v', { flags: 42, expiresAt: clock + 5000 });
    expect(stored.outcome).toBe('STORED');
    const item = await lookup('k');
    expect(str(item?.value)).toBe('v');
    expect(item?.flags).toBe(42);
    expect(item?.expiresAt).toBe(clock + 5000);
    expect(stored.outcome === 'STORED' && stored.cas).toBe(item?.cas);
    expect(str(await kv.run({ name: 'GET', key: 'k' }))).toBe('v');
  });

  it('a key is gone for reads and writes once its expiry has passed', async () => {
    await store('k', '5', { expiresAt: clock + 1000 });
    clock += 1000;
    expect(await lookup('k')).toBeUndefined();
    expect(await kv.run({ name: 'GET', key: 'k' })).toBeUndefined();
    expect(await kv.run({ name: 'EXISTS', keys: ['k'] })).toBe(0);
    expect(await kv.run({ name: 'SCAN', prefix: '' })).toEqual([]);
    expect(await kv.run({ name: 'DEL', key: 'k' })).toBe(false);
    // INCR on an expired key starts from 0, as on a deleted one.
    expect(await kv.run({ name: 'INCR', key: 'k', amount: 1n })).toBe(1n);
  });

  it('a negative memcached exptime (EXPIRED) stores a key no one can read', async () => {
    expect((await store('k', 'v', { expiresAt: EXPIRED })).outcome).toBe('STORED');
    expect(await lookup('k')).toBeUndefined();
  });

  it('a plain SET clears the expiry and the flags', async () => {
    await store('k', 'v', { flags: 3, expiresAt: clock + 1000 });
    await kv.run({ name: 'SET', key: 'k', value: bytes('w') });
    const item = await lookup('k');
    expect(item?.flags).toBe(0);
    expect(item?.expiresAt).toBeUndefined();
  });

  it('add stores only on an absent or expired key; replace, append and prepend only on a live one', async () => {
    expect((await store('k', 'a', { mode: 'replace' })).outcome).toBe('NOT_STORED');
    expect((await store('k', 'a', { mode: 'append' })).outcome).toBe('NOT_STORED');
    expect((await store('k', 'a', { mode: 'add', expiresAt: clock + 10 })).outcome).toBe('STORED');
    expect((await store('k', 'b', { mode: 'add' })).outcome).toBe('NOT_STORED');
    clock += 10;
    expect((await store('k', 'c', { mode: 'add', flags: 7 })).outcome).toBe('STORED');
    expect((await store('k', 'd', { mode: 'replace', flags: 7 })).outcome).toBe('STORED');
    expect(str((await lookup('k'))?.value)).toBe('d');
  });

  it('append and prepend keep the flags and the expiry', async () => {
    await store('k', 'mid', { flags: 9, expiresAt: clock + 5000 });
    await store('k', '>', { mode: 'append', flags: 1, expiresAt: clock + 1 });
    await store('k', '<', { mode: 'prepend' });
    const item = await lookup('k');
    expect(str(item?.value)).toBe('<mid>');
    expect(item?.flags).toBe(9);
    expect(item?.expiresAt).toBe(clock + 5000);
    await expect(store('k', 'x'.repeat(30), { mode: 'append' })).rejects.toMatchObject({ code: 'TOO_LARGE' });
  });

  it('cas stores only on the current CAS value: EXISTS on another, NOT_FOUND on an absent key', async () => {
    expect((await store('k', 'a', { cas: 1n })).outcome).toBe('NOT_FOUND');
    await store('k', 'a');
    const { cas } = (await lookup('k'))!;
    expect((await store('k', 'b', { cas: cas + 1n })).outcome).toBe('EXISTS');
    const second = await store('k', 'b', { cas });
    expect(second.outcome).toBe('STORED');
    expect((await store('k', 'c', { cas })).outcome).toBe('EXISTS');
    expect(str((await lookup('k'))?.value)).toBe('b');
  });

  it('of two compare-and-sets racing on one key with the same CAS value, exactly one stores', async () => {
    await store('k', '0');
    const { cas } = (await lookup('k'))!;
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => store('k', `w${i}`, { cas })));
    expect(outcomes.filter((o) => o.outcome === 'STORED')).toHaveLength(1);
    expect(outcomes.filter((o) => o.outcome === 'EXISTS')).toHaveLength(7);
  });

  it('the CAS value changes with every write of the key, not with TOUCH', async () => {
    const seen = new Set<bigint>();
    const record = async (): Promise<void> => void seen.add((await lookup('k'))!.cas);
    await store('k', '1');
    await record();
    await store('k', '1');
    await record();
    await kv.run({ name: 'ADJUST', key: 'k', delta: 1n });
    await record();
    await kv.run({ name: 'INCR', key: 'k', amount: 1n });
    await record();
    await kv.run({ name: 'APPEND', key: 'k', value: bytes('0') });
    await record();
    expect(seen.size).toBe(5);
    const before = (await lookup('k'))!.cas;
    await kv.run({ name: 'TOUCH', key: 'k', expiresAt: clock + 100 });
    expect((await lookup('k'))!.cas).toBe(before);
  });

  it('REMOVE deletes, or refuses on another CAS value', async () => {
    expect(await kv.run({ name: 'REMOVE', key: 'k' })).toEqual({ outcome: 'NOT_FOUND' });
    await store('k', 'a');
    const { cas } = (await lookup('k'))!;
    expect(await kv.run({ name: 'REMOVE', key: 'k', cas: cas ^ 1n })).toEqual({ outcome: 'EXISTS' });
    expect(await kv.run({ name: 'REMOVE', key: 'k', cas })).toEqual({ outcome: 'DELETED' });
    expect(await lookup('k')).toBeUndefined();
  });

  it('TOUCH sets, moves and takes away the expiry of a live key only', async () => {
    expect(await kv.run({ name: 'TOUCH', key: 'k', expiresAt: clock + 100 })).toEqual({ outcome: 'NOT_FOUND' });
    await store('k', 'a', { flags: 5 });
    const touched = await kv.run({ name: 'TOUCH', key: 'k', expiresAt: clock + 100 });
    expect(touched.outcome === 'TOUCHED' && touched.item).toMatchObject({ flags: 5, expiresAt: clock + 100 });
    await kv.run({ name: 'TOUCH', key: 'k' });
    expect((await lookup('k'))?.expiresAt).toBeUndefined();
    await kv.run({ name: 'TOUCH', key: 'k', expiresAt: clock + 100 });
    clock += 100;
    expect(await kv.run({ name: 'TOUCH', key: 'k', expiresAt: clock + 100 })).toEqual({ outcome: 'NOT_FOUND' });
  });

  it('ADJUST follows memcached: unsigned, incr wraps at 2^64, decr stops at 0, NOT_FOUND without initial', async () => {
    expect(await kv.run({ name: 'ADJUST', key: 'n', delta: 1n })).toEqual({ outcome: 'NOT_FOUND' });
    const created = await kv.run({ name: 'ADJUST', key: 'n', delta: 1n, initial: { value: 10n } });
    expect(created.outcome === 'ADJUSTED' && created.value).toBe(10n);
    const down = await kv.run({ name: 'ADJUST', key: 'n', delta: -25n });
    expect(down.outcome === 'ADJUSTED' && down.value).toBe(0n);
    const up = await kv.run({ name: 'ADJUST', key: 'n', delta: 3n });
    expect(up.outcome === 'ADJUSTED' && up.value).toBe(3n);
    expect(str(await kv.run({ name: 'GET', key: 'n' }))).toBe('3');
    await store('s', 'abc');
    await expect(kv.run({ name: 'ADJUST', key: 's', delta: 1n })).rejects.toMatchObject({ code: 'NOT_A_NUMBER' });
    await store('m', '18446744073709551615', { flags: 4, expiresAt: clock + 1000 });
    const wrapped = await kv.run({ name: 'ADJUST', key: 'm', delta: 2n });
    expect(wrapped.outcome === 'ADJUSTED' && wrapped.value).toBe(1n);
    expect(await lookup('m')).toMatchObject({ flags: 4, expiresAt: clock + 1000 });
  });
});
