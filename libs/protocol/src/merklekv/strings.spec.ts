import { parsed, rejected, replyOf } from '../testing/merklekv.js';

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

describe('GET', () => {
  it('parses one key, case-insensitive command, case-sensitive key', () => {
    expect(parsed('GET user:1')).toEqual({ name: 'GET', key: 'user:1' });
    expect(parsed('get Key')).toEqual({ name: 'GET', key: 'Key' });
    expect(parsed('GeT 🔑é')).toEqual({ name: 'GET', key: '🔑é' });
  });

  it('matches the word with Unicode upper-casing, as Rust to_uppercase does', () => {
    // U+017F LATIN SMALL LETTER LONG S upper-cases to S.
    expect(parsed('ſet k v')).toEqual({ name: 'SET', key: 'k', value: bytes('v') });
  });

  it.each([
    ['GET', 'GET command requires arguments'],
    ['get', 'GET command requires arguments'],
    ['GET a b', 'GET command accepts only one argument'],
    ['GET  a', 'GET command accepts only one argument'],
    ['GET a\tb', 'Invalid character: tab character not allowed in key'],
    ['GET\tkey', 'Invalid character: tab character not allowed in command'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies VALUE v or NOT_FOUND', () => {
    const get = { name: 'GET', key: 'k' } as const;
    expect(replyOf(get, bytes('hello world'))).toBe('VALUE hello world\r\n');
    expect(replyOf(get, bytes('\t日本 '))).toBe('VALUE \t日本 \r\n');
    expect(replyOf(get, new Uint8Array(0))).toBe('VALUE \r\n');
    expect(replyOf(get, undefined)).toBe('NOT_FOUND\r\n');
  });

  it('has no quoting: SET k "" stores two quote characters', () => {
    expect(parsed('SET k ""')).toEqual({ name: 'SET', key: 'k', value: bytes('""') });
    expect(replyOf({ name: 'GET', key: 'k' }, bytes('""'))).toBe('VALUE ""\r\n');
  });
});

describe('SET', () => {
  it.each([
    ['SET k v', 'v'],
    ['SET k hello   world   ', 'hello   world'],
    ['SET k  two leading spaces', ' two leading spaces'],
    ['SET k \t\ttabs', '\t\ttabs'],
    ['SET k \u00a0nbsp', '\u00a0nbsp'],
    ['SET k a\tb c', 'a\tb c'],
    ['set k V', 'V'],
  ])('%j stores %j', (line, value) => {
    expect(parsed(line)).toEqual({ name: 'SET', key: 'k', value: bytes(value) });
  });

  it('keeps any UTF-8 in keys and values', () => {
    expect(parsed('SET 🔑:ü 値 ✓')).toEqual({ name: 'SET', key: '🔑:ü', value: bytes('値 ✓') });
  });

  it.each([
    ['SET', 'SET command requires arguments'],
    ['set', 'SET command requires arguments'],
    ['SET k', 'SET command requires a key and value'],
    ['SET k   ', 'SET command requires a key and value'],
    ['SET  v', 'SET command key cannot be empty'],
    ['SET k\tx v', 'Invalid character: tab character not allowed in key'],
    ['SET\tk v', 'Invalid character: tab character not allowed in command'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies OK', () => {
    expect(replyOf({ name: 'SET', key: 'k', value: bytes('v') }, undefined)).toBe('OK\r\n');
  });
});

describe('DEL / DELETE', () => {
  it.each(['DEL k', 'DELETE k', 'del k', 'Delete k'])('%j deletes k', (line) => {
    expect(parsed(line)).toEqual({ name: 'DEL', key: 'k' });
  });

  it.each([
    ['DEL', 'DEL command requires arguments'],
    ['del', 'DEL command requires arguments'],
    ['DELETE', 'DELETE command requires arguments'],
    // The reference names DELETE in this message whichever word was used.
    ['DEL a b', 'DELETE command accepts only one argument'],
    ['DELETE a b', 'DELETE command accepts only one argument'],
    ['DEL a\tb', 'Invalid character: tab character not allowed in key'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies DELETED or NOT_FOUND', () => {
    const del = { name: 'DEL', key: 'k' } as const;
    expect(replyOf(del, true)).toBe('DELETED\r\n');
    expect(replyOf(del, false)).toBe('NOT_FOUND\r\n');
  });
});

describe('APPEND / PREPEND', () => {
  it('take everything after the key as the value', () => {
    expect(parsed('APPEND k  tail end')).toEqual({ name: 'APPEND', key: 'k', value: bytes(' tail end') });
    expect(parsed('prepend k head ')).toEqual({ name: 'PREPEND', key: 'k', value: bytes('head') });
  });

  it.each([
    // No bare-word case in the reference: alone, the word is unknown.
    ['APPEND', 'Unknown command: APPEND'],
    ['append', 'Unknown command: append'],
    ['PREPEND', 'Unknown command: PREPEND'],
    ['APPEND k', 'APPEND command requires a key and value'],
    ['PREPEND k', 'PREPEND command requires a key and value'],
    ['APPEND  v', 'APPEND command key cannot be empty'],
    ['PREPEND  v', 'PREPEND command key cannot be empty'],
    ['APPEND k\tx v', 'Invalid character: tab character not allowed in key'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('reply VALUE <new value>', () => {
    expect(replyOf({ name: 'APPEND', key: 'k', value: bytes('b') }, bytes('ab'))).toBe('VALUE ab\r\n');
    expect(replyOf({ name: 'PREPEND', key: 'k', value: bytes('a') }, bytes('a b'))).toBe('VALUE a b\r\n');
  });
});

describe('values the text protocol cannot frame', () => {
  it('refuses to send a value holding a line feed, in GET, APPEND and MGET replies', () => {
    const bad = Buffer.from('x\r\nVALUE injected');
    expect(() => replyOf({ name: 'GET', key: 'k' }, bad)).toThrow(expect.objectContaining({ code: 'UNREPRESENTABLE' }));
    expect(() => replyOf({ name: 'APPEND', key: 'k', value: Buffer.from('v') }, bad)).toThrow(expect.objectContaining({ code: 'UNREPRESENTABLE' }));
    expect(() => replyOf({ name: 'MGET', keys: ['a', 'k'] }, [Buffer.from('fine'), bad])).toThrow(expect.objectContaining({ code: 'UNREPRESENTABLE' }));
    expect(replyOf({ name: 'GET', key: 'k' }, Buffer.from('a\rb'))).toBe('VALUE a\rb\r\n');
  });
});
