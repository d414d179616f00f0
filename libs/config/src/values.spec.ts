import fc from 'fast-check';
import * as v from './values.js';

const ctx: v.ParseContext = { cwd: '/srv/kv', warn: () => undefined };

const reason = (run: () => unknown): string => {
  try {
    run();
  } catch (err) {
    if (err instanceof v.Invalid) return err.reason;
    throw err;
  }
  throw new Error('expected Invalid');
};

describe('integer', () => {
  const shards = v.integer(1, 4096);

  it('accepts every integer in range, as a number or a decimal string', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), (n) => {
        expect(shards(n, ctx)).toBe(n);
        expect(shards(String(n), ctx)).toBe(n);
        expect(shards(` +${n} `, ctx)).toBe(n);
      }),
      { seed: 1 },
    );
  });

  it('rejects every integer out of range', () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ max: 0 }), fc.integer({ min: 4097 })), (n) => {
        expect(reason(() => shards(n, ctx))).toBe('must be an integer 1-4096');
        expect(reason(() => shards(String(n), ctx))).toBe('must be an integer 1-4096');
      }),
      { seed: 2 },
    );
  });

  it.each([1.5, '1.5', '0x10', '1e3', '', 'abc', true, null, [1], 2n ** 70n, Number.NaN])('rejects %p', (input) => {
    expect(() => shards(input, ctx)).toThrow(v.Invalid);
  });
});

describe('optionalPort', () => {
  it.each([
    [-1, null],
    [false, null],
    ['off', null],
    ['Disabled', null],
    ['-1', null],
    [0, 0],
    ['8080', 8080],
  ] as const)('%p gives %p', (input, expected) => {
    expect(v.optionalPort(input, ctx)).toBe(expected);
  });

  it.each([true, -2, 65536, 'on'])('rejects %p', (input) => {
    expect(reason(() => v.optionalPort(input, ctx))).toMatch(/-1 \/ off to disable/);
  });
});

describe('boolean', () => {
  it.each([
    [true, true],
    ['TRUE', true],
    ['yes', true],
    ['on', true],
    ['1', true],
    [false, false],
    [' off ', false],
    ['0', false],
  ] as const)('%p gives %p', (input, expected) => {
    expect(v.boolean(input, ctx)).toBe(expected);
  });

  it.each([1, 'maybe', '', null])('rejects %p', (input) => {
    expect(() => v.boolean(input, ctx)).toThrow(v.Invalid);
  });
});

describe('host', () => {
  it.each([
    ['127.0.0.1', '127.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['::', '::'],
    ['[::1]', '::1'],
    ['fe80::1', 'fe80::1'],
    ['localhost', 'localhost'],
    ['kv-1.prod.example.com', 'kv-1.prod.example.com'],
    ['merkle_kv_1', 'merkle_kv_1'],
  ])('accepts %s', (input, expected) => {
    expect(v.host(input, ctx)).toBe(expected);
  });

  it.each(['', 'a b', '[localhost]', 'host:7379', '-lead', 'a..b', 'x'.repeat(64), 7379])('rejects %p', (input) => {
    expect(() => v.host(input, ctx)).toThrow(v.Invalid);
  });
});

describe('name', () => {
  it.each(['node1', 'node-alpha', 'merkle_kv', 'A'.repeat(64)])('accepts %s', (input) => {
    expect(v.name(input, ctx)).toBe(input);
  });
  it.each(['', 'a.b', 'a*', 'a>', 'a b', 'a/b', 'A'.repeat(65), 1])('rejects %p', (input) => {
    expect(() => v.name(input, ctx)).toThrow(v.Invalid);
  });
});

describe('path', () => {
  it('resolves against cwd and keeps absolute paths', () => {
    expect(v.path('data', ctx)).toBe('/srv/kv/data');
    expect(v.path('./a/../b', ctx)).toBe('/srv/kv/b');
    expect(v.path('/var/lib/kv', ctx)).toBe('/var/lib/kv');
  });
  it.each(['', '  ', 'a\0b', 5])('rejects %p', (input) => {
    expect(() => v.path(input, ctx)).toThrow(v.Invalid);
  });
});

describe('natsServers', () => {
  it('takes an array or a comma-separated string, forgiving empty items', () => {
    expect(v.natsServers(['nats://a:4222', ' tls://b:4222 '], ctx)).toEqual(['nats://a:4222', 'tls://b:4222']);
    expect(v.natsServers('a:4222,,wss://c/ws,', ctx)).toEqual(['a:4222', 'wss://c/ws']);
    expect(v.natsServers('nats://user:pass@[::1]:4222', ctx)).toEqual(['nats://user:pass@[::1]:4222']);
    expect(v.natsServers([], ctx)).toEqual([]);
  });

  it.each([
    ['http://a:80', 'http://a:80'],
    ['nats://a:99999', 'nats://a:99999'],
    ['nats://', 'nats://'],
    [['a:1', 5], 5],
  ] as const)('rejects %p, naming %p', (input, offending) => {
    try {
      v.natsServers(input, ctx);
      throw new Error('accepted');
    } catch (err) {
      expect(err).toBeInstanceOf(v.Invalid);
      expect((err as v.Invalid).offending).toBe(offending);
    }
  });
});

describe('peers', () => {
  it('parses host:port, IPv6 in brackets', () => {
    expect(v.peers(['10.0.0.1:7379', '[::1]:7380', 'kv-b:1'], ctx)).toEqual([
      { host: '10.0.0.1', port: 7379 },
      { host: '::1', port: 7380 },
      { host: 'kv-b', port: 1 },
    ]);
  });
  it.each(['10.0.0.1', ':7379', 'a:0', 'a:65536', 'a:x', '::1:7379', '[a]:1', 'a b:1'])('rejects %p', (input) => {
    expect(() => v.peers([input], ctx)).toThrow(v.Invalid);
  });
});

describe('oneOf', () => {
  it('matches case-insensitively and passes on its remarks', () => {
    const remarks: string[] = [];
    const parse = v.oneOf(['a', 'b'], { a: 'a', b: 'b', old: 'a' }, { old: 'old is a' });
    expect(parse(' OLD ', { cwd: '/', warn: (m) => remarks.push(m) })).toBe('a');
    expect(remarks).toEqual(['old is a']);
    expect(reason(() => parse('toString', ctx))).toBe('must be one of a, b');
  });
});

describe('describeValue', () => {
  it('quotes strings and shortens long values', () => {
    expect(v.describeValue('abc')).toBe('"abc"');
    expect(v.describeValue('x'.repeat(200))).toHaveLength(82);
    expect(v.describeValue([1, 'a'])).toBe('[1, "a"]');
    expect(v.describeValue({ a: 1 })).toBe('a table');
    expect(v.describeValue(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });
});
