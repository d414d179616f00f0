import { type Command } from '#commands';
import { parsed, rejected, replyOf } from '../testing/merklekv.js';

describe('EXPIRE, TTL, PERSIST', () => {
  it('EXPIRE key seconds becomes a TOUCH with an absolute expiry that many seconds from now', () => {
    const before = Date.now();
    const command = parsed('EXPIRE session 30') as Extract<Command, { name: 'TOUCH' }>;
    expect(command).toMatchObject({ name: 'TOUCH', key: 'session' });
    expect(command.expiresAt).toBeGreaterThanOrEqual(before + 30_000);
    expect(command.expiresAt).toBeLessThanOrEqual(Date.now() + 30_000);
    // 0 or less has expired already, as in Redis.
    expect((parsed('expire k 0') as Extract<Command, { name: 'TOUCH' }>).expiresAt).toBeLessThan(before);
    expect((parsed('EXPIRE k -5') as Extract<Command, { name: 'TOUCH' }>).expiresAt).toBeLessThan(before);
  });

  it('PERSIST key is a TOUCH without expiry; TTL key a LOOKUP of the key', () => {
    expect(parsed('PERSIST k')).toEqual({ name: 'TOUCH', key: 'k' });
    expect(parsed('ttl k')).toEqual({ name: 'LOOKUP', keys: ['k'] });
  });

  it.each([
    ['EXPIRE', 'EXPIRE command requires arguments'],
    ['EXPIRE k', 'EXPIRE command requires a key and seconds'],
    ['EXPIRE k 1.5', 'EXPIRE seconds must be an integer'],
    ['EXPIRE k ten', 'EXPIRE seconds must be an integer'],
    ['EXPIRE k 1 2', 'EXPIRE seconds must be an integer'],
    ['EXPIRE k\tx 1', 'Invalid character: tab character not allowed in key'],
    ['TTL', 'TTL command requires arguments'],
    ['TTL a b', 'TTL command accepts only one argument'],
    ['PERSIST', 'PERSIST command requires arguments'],
    ['PERSIST a\tb', 'Invalid character: tab character not allowed in key'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies OK or NOT_FOUND to EXPIRE and PERSIST', () => {
    const touch = { name: 'TOUCH', key: 'k' } as const;
    expect(replyOf(touch, { outcome: 'TOUCHED', item: { value: new Uint8Array(0), flags: 0, cas: 1n } })).toBe('OK\r\n');
    expect(replyOf(touch, { outcome: 'NOT_FOUND' })).toBe('NOT_FOUND\r\n');
  });

  it('replies TTL <seconds left, rounded up>, TTL -1 without expiry, TTL -2 when absent', () => {
    const ttl = { name: 'LOOKUP', keys: ['k'] } as const;
    const item = { value: new Uint8Array(0), flags: 0, cas: 1n };
    expect(replyOf(ttl, [{ ...item, expiresAt: Date.now() + 9_500 }])).toBe('TTL 10\r\n');
    expect(replyOf(ttl, [item])).toBe('TTL -1\r\n');
    expect(replyOf(ttl, [undefined])).toBe('TTL -2\r\n');
  });
});
