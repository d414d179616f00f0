import { parsed, rejected, replyOf } from '../testing/merklekv.js';

describe('INC / INCR / DEC / DECR', () => {
  it.each([
    ['INC c', 1n],
    ['INC c 5', 5n],
    ['INC c +5', 5n],
    ['INC c -3', -3n],
    ['INC c 007', 7n],
    ['INC c -0', 0n],
    ['inc c 2', 2n],
    ['INCR c', 1n],
    ['incr c 4', 4n],
    ['DEC c', -1n],
    ['DEC c 4', -4n],
    ['DEC c -4', 4n],
    ['DECR c', -1n],
    ['DECR c +2', -2n],
    ['INC c 9223372036854775807', 9_223_372_036_854_775_807n],
    ['INC c -9223372036854775808', -9_223_372_036_854_775_808n],
    // 2^63: no i64 holds it; the command layer reports the overflow.
    ['DEC c -9223372036854775808', 9_223_372_036_854_775_808n],
  ])('%j adds %p', (line, amount) => {
    expect(parsed(line)).toEqual({ name: 'INCR', key: 'c', amount });
  });

  it('splits arguments on any white space and ignores tokens after the amount, as the reference does', () => {
    expect(parsed('INC c\t5')).toEqual({ name: 'INCR', key: 'c', amount: 5n });
    expect(parsed('INC  c\u00a0 6')).toEqual({ name: 'INCR', key: 'c', amount: 6n });
    expect(parsed('INC c 5 extra')).toEqual({ name: 'INCR', key: 'c', amount: 5n });
  });

  it('takes a number as the key when an amount follows', () => {
    expect(parsed('INC 5 3')).toEqual({ name: 'INCR', key: '5', amount: 3n });
  });

  it.each([
    ['INC 5', 'INC command requires a key'],
    ['DEC -5', 'DEC command requires a key'],
    ['INCR 1', 'INCR command requires a key'],
    ['INC c abc', 'INC command amount must be a valid number'],
    ['INC c 1.5', 'INC command amount must be a valid number'],
    ['INC c 0x10', 'INC command amount must be a valid number'],
    ['INC c +', 'INC command amount must be a valid number'],
    ['INC c --1', 'INC command amount must be a valid number'],
    ['INC c ５', 'INC command amount must be a valid number'],
    ['INC c 9223372036854775808', 'INC command amount must be a valid number'],
    ['DEC c -9223372036854775809', 'DEC command amount must be a valid number'],
    ['DEC c x', 'DEC command amount must be a valid number'],
    ['DECR c x', 'DECR command amount must be a valid number'],
    // No bare-word case in the reference: alone, the word is unknown (INCR included).
    ['INC', 'Unknown command: INC'],
    ['dec', 'Unknown command: dec'],
    ['INCR', 'Unknown command: INCR'],
    ['DECR', 'Unknown command: DECR'],
  ])('%j → ERROR %s', (line, message) => {
    expect(rejected(line)).toBe(message);
  });

  it('replies VALUE <new>', () => {
    const incr = { name: 'INCR', key: 'c', amount: 1n } as const;
    expect(replyOf(incr, 42n)).toBe('VALUE 42\r\n');
    expect(replyOf(incr, -7n)).toBe('VALUE -7\r\n');
    expect(replyOf(incr, -9_223_372_036_854_775_808n)).toBe('VALUE -9223372036854775808\r\n');
  });
});
