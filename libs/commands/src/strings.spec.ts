import { bytes, executorFixture, type ExecutorFixture, str } from './testing/executor-fixture.js';

describe('string commands', () => {
  let kv: ExecutorFixture;
  beforeEach(async () => {
    kv = await executorFixture({ maxValueBytes: 16 });
  });
  afterEach(() => kv.close());

  it('GET answers undefined for a missing key and the value after SET', async () => {
    expect(await kv.run({ name: 'GET', key: 'k' })).toBeUndefined();
    await kv.run({ name: 'SET', key: 'k', value: bytes('v 1\t2') });
    expect(str(await kv.run({ name: 'GET', key: 'k' }))).toBe('v 1\t2');
  });

  it('SET overwrites, including with the empty value', async () => {
    await kv.run({ name: 'SET', key: 'k', value: bytes('a') });
    await kv.run({ name: 'SET', key: 'k', value: bytes('') });
    expect(str(await kv.run({ name: 'GET', key: 'k' }))).toBe('');
  });

  it('DEL tells whether a live key was removed', async () => {
    await kv.run({ name: 'SET', key: 'k', value: bytes('a') });
    expect(await kv.run({ name: 'DEL', key: 'k' })).toBe(true);
    expect(await kv.run({ name: 'DEL', key: 'k' })).toBe(false);
    expect(await kv.run({ name: 'DEL', key: 'never' })).toBe(false);
    expect(await kv.run({ name: 'GET', key: 'k' })).toBeUndefined();
  });

  it('APPEND and PREPEND create a missing key and return the new value', async () => {
    expect(str(await kv.run({ name: 'APPEND', key: 'k', value: bytes('mid') }))).toBe('mid');
    expect(str(await kv.run({ name: 'APPEND', key: 'k', value: bytes('>') }))).toBe('mid>');
    expect(str(await kv.run({ name: 'PREPEND', key: 'k', value: bytes('<') }))).toBe('<mid>');
  });

  it('APPEND to a counter works on its decimal text', async () => {
    await kv.run({ name: 'INCR', key: 'n', amount: 41n });
    expect(str(await kv.run({ name: 'APPEND', key: 'n', value: bytes('0') }))).toBe('410');
    expect(await kv.run({ name: 'INCR', key: 'n', amount: 1n })).toBe(411n);
  });

  it('refuses values over the limit, also when APPEND would grow past it', async () => {
    await expect(kv.run({ name: 'SET', key: 'k', value: bytes('x'.repeat(17)) })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    await kv.run({ name: 'SET', key: 'k', value: bytes('x'.repeat(10)) });
    await expect(kv.run({ name: 'APPEND', key: 'k', value: bytes('y'.repeat(10)) })).rejects.toMatchObject({ code: 'TOO_LARGE' });
    expect(str(await kv.run({ name: 'GET', key: 'k' }))).toBe('x'.repeat(10));
  });
});
