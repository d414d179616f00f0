import { bytes, executorFixture, type ExecutorFixture, str } from './testing/executor-fixture.js';

describe('bulk commands', () => {
  let kv: ExecutorFixture;
  beforeEach(async () => {
    kv = await executorFixture({ maxValueBytes: 8 });
  });
  afterEach(() => kv.close());

  it('MSET writes every pair; MGET answers in request order', async () => {
    await kv.run({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('2')], ['a', bytes('3')]] });
    const values = await kv.run({ name: 'MGET', keys: ['b', 'missing', 'a'] });
    expect(values.map(str)).toEqual(['2', undefined, '3']);
  });

  it('MSET with one oversized value writes nothing', async () => {
    await expect(kv.run({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('123456789')]] })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    expect(await kv.run({ name: 'GET', key: 'a' })).toBeUndefined();
  });

  it('EXISTS counts duplicates twice and ignores deleted keys', async () => {
    await kv.run({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('2')]] });
    await kv.run({ name: 'DEL', key: 'b' });
    expect(await kv.run({ name: 'EXISTS', keys: ['a', 'a', 'b', 'c'] })).toBe(2);
  });

  it('SCAN lists live keys with a literal prefix in byte order', async () => {
    await kv.run({ name: 'MSET', pairs: [['user:2', bytes('x')], ['user:10', bytes('x')], ['other', bytes('x')], ['user:*', bytes('x')]] });
    expect(await kv.run({ name: 'SCAN', prefix: 'user:' })).toEqual(['user:*', 'user:10', 'user:2']);
    expect(await kv.run({ name: 'SCAN', prefix: '' })).toHaveLength(4);
    expect(await kv.run({ name: 'SCAN', prefix: 'nope' })).toEqual([]);
  });
});
