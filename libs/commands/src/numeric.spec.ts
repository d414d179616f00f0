import { bytes, executorFixture, type ExecutorFixture } from './testing/executor-fixture.js';

describe('numeric commands', () => {
  let kv: ExecutorFixture;
  beforeEach(async () => {
    kv = await executorFixture();
  });
  afterEach(() => kv.close());

  it('creates a missing key as the amount and then adds', async () => {
    expect(await kv.run({ name: 'INCR', key: 'n', amount: 1n })).toBe(1n);
    expect(await kv.run({ name: 'INCR', key: 'n', amount: 10n })).toBe(11n);
    expect(await kv.run({ name: 'INCR', key: 'n', amount: -20n })).toBe(-9n);
    expect(await kv.run({ name: 'INCR', key: 'm', amount: -5n })).toBe(-5n);
  });

  it('counts on from a numeric string value', async () => {
    await kv.run({ name: 'SET', key: 'n', value: bytes('100') });
    expect(await kv.run({ name: 'INCR', key: 'n', amount: 5n })).toBe(105n);
    expect(Buffer.from((await kv.run({ name: 'GET', key: 'n' }))!).toString()).toBe('105');
  });

  it('refuses a non-numeric value with the reference message', async () => {
    await kv.run({ name: 'SET', key: 'word', value: bytes('abc') });
    await expect(kv.run({ name: 'INCR', key: 'word', amount: 1n })).rejects.toMatchObject({
      code: 'NOT_A_NUMBER',
      message: "Value for key 'word' is not a valid number",
    });
  });

  it('refuses to overflow 64 bits and keeps the old value', async () => {
    await kv.run({ name: 'SET', key: 'n', value: bytes('9223372036854775807') });
    await expect(kv.run({ name: 'INCR', key: 'n', amount: 1n })).rejects.toMatchObject({ code: 'OVERFLOW' });
    await kv.run({ name: 'SET', key: 'm', value: bytes('-9223372036854775808') });
    await expect(kv.run({ name: 'INCR', key: 'm', amount: -1n })).rejects.toMatchObject({ code: 'OVERFLOW' });
    expect(Buffer.from((await kv.run({ name: 'GET', key: 'n' }))!).toString()).toBe('9223372036854775807');
  });

  it('starts again from zero after a delete', async () => {
    await kv.run({ name: 'INCR', key: 'n', amount: 7n });
    await kv.run({ name: 'DEL', key: 'n' });
    expect(await kv.run({ name: 'INCR', key: 'n', amount: 1n })).toBe(1n);
  });
});
