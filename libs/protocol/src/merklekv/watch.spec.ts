import { parsed, rejected, replyOf } from '../testing/merklekv.js';
import { encodeMerkleKvWatchEvent } from './watch.js';

describe('WATCH', () => {
  it('takes nothing or one literal prefix', () => {
    expect(parsed('WATCH')).toEqual({ name: 'WATCH', prefix: '' });
    expect(parsed('watch user:')).toEqual({ name: 'WATCH', prefix: 'user:' });
  });

  it.each([
    ['WATCH a b', 'WATCH command accepts only one argument'],
    ['WATCH a\tb', 'Invalid character: tab character not allowed in prefix'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('answers WATCHING, then one line per event', () => {
    const feed = { prefix: 'p:', start: () => undefined, stop: () => undefined };
    expect(replyOf({ name: 'WATCH', prefix: 'p:' }, feed)).toBe('WATCHING p:\r\n');
    expect(replyOf({ name: 'WATCH', prefix: '' }, { ...feed, prefix: '' })).toBe('WATCHING\r\n');
    expect(encodeMerkleKvWatchEvent({ kind: 'change', key: 'p:1', value: Buffer.from('a b\tc é') }).toString()).toBe('CHANGE p:1 a b\tc é\r\n');
    expect(encodeMerkleKvWatchEvent({ kind: 'deleted', key: 'p:1' }).toString()).toBe('DELETED p:1\r\n');
    expect(encodeMerkleKvWatchEvent({ kind: 'truncated' }).toString()).toBe('TRUNCATED\r\n');
  });
});
