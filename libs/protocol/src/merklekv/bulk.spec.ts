import { parsed, rejected, replyOf } from '../testing/merklekv.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('MGET', () => {
  it('splits keys on any white space', () => {
    expect(parsed('MGET a b c')).toEqual({ name: 'MGET', keys: ['a', 'b', 'c'] });
    expect(parsed('mget a\tb  c\u00a0d')).toEqual({ name: 'MGET', keys: ['a', 'b', 'c', 'd'] });
    expect(parsed('MGET a a')).toEqual({ name: 'MGET', keys: ['a', 'a'] });
  });

  it.each([
    ['MGET', 'Unknown command: MGET'],
    ['mget', 'Unknown command: mget'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies VALUES <found> then one line per requested key, in request order', () => {
    const mget = { name: 'MGET', keys: ['a', 'missing', '🔑', 'a'] } as const;
    expect(replyOf(mget, [bytes('1'), undefined, bytes('v é'), bytes('1')])).toBe(
      'VALUES 3\r\na 1\r\nmissing NOT_FOUND\r\n🔑 v é\r\na 1\r\n',
    );
    expect(replyOf({ name: 'MGET', keys: ['k'] }, [new Uint8Array(0)])).toBe('VALUES 1\r\nk \r\n');
  });

  it('replies a whole NOT_FOUND when no key is found', () => {
    expect(replyOf({ name: 'MGET', keys: ['a', 'b'] }, [undefined, undefined])).toBe('NOT_FOUND\r\n');
  });

  it('refuses a reply above 64 MiB (a large value named many times) with TOO_LARGE instead of allocating it', () => {
    const value = Buffer.alloc(1_000_000, 'v');
    const keys = Array.from({ length: 68 }, () => 'a');
    expect(() => replyOf({ name: 'MGET', keys }, keys.map(() => value))).toThrow(expect.objectContaining({ code: 'TOO_LARGE' }));
    expect(replyOf({ name: 'MGET', keys: keys.slice(0, 60) }, keys.slice(0, 60).map(() => value)).length).toBeGreaterThan(60_000_000);
  });
});

describe('MSET', () => {
  it('pairs keys and values split on white space', () => {
    expect(parsed('MSET a 1 b 2')).toEqual({
      name: 'MSET',
      pairs: [
        ['a', bytes('1')],
        ['b', bytes('2')],
      ],
    });
    expect(parsed('mset k\tv\u3000ü ✓')).toEqual({
      name: 'MSET',
      pairs: [
        ['k', bytes('v')],
        ['ü', bytes('✓')],
      ],
    });
  });

  it.each([
    ['MSET a', 'MSET command requires an even number of arguments (key-value pairs)'],
    ['MSET a 1 b', 'MSET command requires an even number of arguments (key-value pairs)'],
    ['MSET', 'Unknown command: MSET'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies OK', () => {
    expect(replyOf({ name: 'MSET', pairs: [['a', bytes('1')]] }, undefined)).toBe('OK\r\n');
  });
});

describe('EXISTS', () => {
  it('keeps duplicates (they count twice)', () => {
    expect(parsed('EXISTS a a b')).toEqual({ name: 'EXISTS', keys: ['a', 'a', 'b'] });
    expect(parsed('exists a\tb')).toEqual({ name: 'EXISTS', keys: ['a', 'b'] });
  });

  it.each([
    ['EXISTS', 'EXISTS command requires arguments'],
    ['exists', 'EXISTS command requires arguments'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies EXISTS <n>', () => {
    expect(replyOf({ name: 'EXISTS', keys: ['a', 'a'] }, 2)).toBe('EXISTS 2\r\n');
    expect(replyOf({ name: 'EXISTS', keys: ['x'] }, 0)).toBe('EXISTS 0\r\n');
  });
});

describe('SCAN', () => {
  it('takes one literal prefix, or none', () => {
    expect(parsed('SCAN')).toEqual({ name: 'SCAN', prefix: '' });
    expect(parsed('scan user:')).toEqual({ name: 'SCAN', prefix: 'user:' });
    expect(parsed('SCAN *')).toEqual({ name: 'SCAN', prefix: '*' });
  });

  it.each([
    ['SCAN a b', 'SCAN command accepts only one argument'],
    ['SCAN a\tb', 'Invalid character: tab character not allowed in prefix'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies KEYS <n> then one key per line', () => {
    expect(replyOf({ name: 'SCAN', prefix: '' }, ['a', 'b:🔑'])).toBe('KEYS 2\r\na\r\nb:🔑\r\n');
    expect(replyOf({ name: 'SCAN', prefix: 'zz' }, [])).toBe('KEYS 0\r\n');
  });
});
