import { parsed, rejected, replyOf } from '../testing/merklekv.js';

const ROOT = 'ab'.repeat(32);

describe('HASH', () => {
  it('takes nothing, * or one literal prefix', () => {
    expect(parsed('HASH')).toEqual({ name: 'HASH' });
    expect(parsed('hash *')).toEqual({ name: 'HASH', pattern: '*' });
    expect(parsed('HASH user:')).toEqual({ name: 'HASH', pattern: 'user:' });
  });

  it.each([
    ['HASH a b', 'HASH command accepts only one argument'],
    ['HASH a\tb', 'Invalid character: tab character not allowed in key'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies HASH <hex>, HASH * <hex>, HASH <prefix> <hex>', () => {
    expect(replyOf({ name: 'HASH' }, ROOT)).toBe(`HASH ${ROOT}\r\n`);
    expect(replyOf({ name: 'HASH', pattern: '*' }, ROOT)).toBe(`HASH * ${ROOT}\r\n`);
    expect(replyOf({ name: 'HASH', pattern: 'user:' }, '0'.repeat(64))).toBe(`HASH user: ${'0'.repeat(64)}\r\n`);
  });
});

describe('SYNC', () => {
  it.each([
    ['SYNC 10.0.0.1 7379', { host: '10.0.0.1', port: 7379, full: false, verify: false }],
    ['sync node-b 7379 --full', { host: 'node-b', port: 7379, full: true, verify: false }],
    ['SYNC [::1] 7379 --verify --full', { host: '[::1]', port: 7379, full: true, verify: true }],
    ['SYNC h\t+80', { host: 'h', port: 80, full: false, verify: false }],
    ['SYNC h 0', { host: 'h', port: 0, full: false, verify: false }],
    ['SYNC h 65535', { host: 'h', port: 65535, full: false, verify: false }],
  ])('%j', (line, expected) => {
    expect(parsed(line)).toEqual({ name: 'SYNC', ...expected });
  });

  it.each([
    ['SYNC', 'SYNC command requires arguments'],
    ['SYNC host', 'SYNC requires <port> as the second argument'],
    ['SYNC h 65536', 'Invalid port: must be an integer in 0..=65535'],
    ['SYNC h -1', 'Invalid port: must be an integer in 0..=65535'],
    ['SYNC h -0', 'Invalid port: must be an integer in 0..=65535'],
    ['SYNC h 80a', 'Invalid port: must be an integer in 0..=65535'],
    ['SYNC h 1 --full --full', 'Duplicate option: --full'],
    ['SYNC h 1 --verify --full --verify', 'Duplicate option: --verify'],
    ['SYNC h 1 --FULL', 'Unknown option: --FULL'],
    ['SYNC h 1 now', 'Unknown option: now'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies OK', () => {
    expect(replyOf({ name: 'SYNC', host: 'h', port: 1, full: false, verify: false }, undefined)).toBe('OK\r\n');
  });
});

describe('REPLICATE', () => {
  it.each([
    ['REPLICATE enable', 'enable'],
    ['replicate DISABLE', 'disable'],
    ['REPLICATE Status', 'status'],
  ] as const)('%j', (line, action) => {
    expect(parsed(line)).toEqual({ name: 'REPLICATE', action });
  });

  it.each([
    // No bare-word case in the reference: alone, the word is unknown.
    ['REPLICATE', 'Unknown command: REPLICATE'],
    ['REPLICATE on', 'REPLICATE action must be enable, disable, or status'],
    ['REPLICATE enable now', 'REPLICATE command accepts only one argument'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies OK to enable/disable and REPLICATION ... to status', () => {
    const status = { name: 'REPLICATE', action: 'status' } as const;
    expect(replyOf({ name: 'REPLICATE', action: 'enable' }, { enabled: true, nodes: 3 })).toBe('OK\r\n');
    expect(replyOf({ name: 'REPLICATE', action: 'disable' }, { enabled: false, nodes: 3 })).toBe('OK\r\n');
    expect(replyOf(status, { enabled: true, nodes: 3 })).toBe('REPLICATION enabled 3 nodes\r\n');
    expect(replyOf(status, { enabled: false, nodes: 3 })).toBe('REPLICATION disabled\r\n');
  });
});

describe('AE (an anti-entropy session message between nodes)', () => {
  it('carries any bytes in canonical base64, both ways', () => {
    const bytes = Buffer.from([1, 0x48, 0, 255, 10, 13, 32]);
    expect(parsed(`AE ${bytes.toString('base64')}`)).toEqual({ name: 'AE', message: bytes });
    expect(parsed('ae AAEC')).toEqual({ name: 'AE', message: Buffer.from([0, 1, 2]) });
    expect(replyOf({ name: 'AE', message: bytes }, Buffer.from([9, 8, 7, 6]))).toBe('AE CQgHBg==\r\n');
  });

  it.each([
    ['AE', 'AE command requires arguments'],
    ['AE AAE', 'AE takes one session message in base64'],
    ['AE AA==AA==', 'AE takes one session message in base64'],
    ['AE AAEC AAEC', 'AE takes one session message in base64'],
    ['AE AA-_', 'AE takes one session message in base64'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });
});
