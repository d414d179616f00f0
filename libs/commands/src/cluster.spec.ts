import { bytes, executorFixture, type ExecutorFixture } from './testing/executor-fixture.js';

// Independently computed with Python's hashlib from the reference definition (libs/protocol pins more).
const ROOT_A1 = '4ba9bdecd6b287135f7d4ca5a577b2b657309c6cb5c3321c96d345bffdf78f72';
const ROOT_A1_B2_C3 = '699dab231835e9759faa486683e374a93686ae85c394d8870499c2e7b2599997';

describe('cluster commands', () => {
  let kv: ExecutorFixture;
  beforeEach(async () => {
    kv = await executorFixture();
  });
  afterEach(() => kv.close());

  it('HASH covers live keys in byte order, whatever the write order, with prefixes', async () => {
    await kv.run({ name: 'SET', key: 'c', value: bytes('3') });
    await kv.run({ name: 'SET', key: 'zz', value: bytes('gone') });
    await kv.run({ name: 'MSET', pairs: [['b', bytes('2')], ['a', bytes('1')]] });
    await kv.run({ name: 'DEL', key: 'zz' });
    expect(await kv.run({ name: 'HASH' })).toBe(ROOT_A1_B2_C3);
    expect(await kv.run({ name: 'HASH', pattern: '*' })).toBe(ROOT_A1_B2_C3);
    expect(await kv.run({ name: 'HASH', pattern: 'a' })).toBe(ROOT_A1);
    expect(await kv.run({ name: 'HASH', pattern: 'nothing' })).toBe('0'.repeat(64));
  });

  it('REPLICATE on a standalone node answers as the reference does: enable and disable succeed, status says disabled', async () => {
    for (const action of ['enable', 'disable', 'status'] as const) expect(await kv.run({ name: 'REPLICATE', action })).toEqual({ enabled: false, nodes: 1 });
  });

  it('SYNC answers UNAVAILABLE where nothing can sync', async () => {
    await expect(kv.run({ name: 'SYNC', host: '127.0.0.1', port: 7379, full: false, verify: false })).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
