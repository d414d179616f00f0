import { isKvError } from '#commands';
import { parseIncrAmount } from './incr-body.js';

const body = (text: string): Buffer => Buffer.from(text, 'utf8');

function rejection(input: Buffer): unknown {
  try {
    parseIncrAmount(input);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('parseIncrAmount', () => {
  it('counts 1 without a body or for an empty object', () => {
    expect(parseIncrAmount(undefined)).toBe(1n);
    expect(parseIncrAmount(body('{}'))).toBe(1n);
    expect(parseIncrAmount(body(' { } '))).toBe(1n);
  });

  it('takes a JSON integer or a decimal string within 64 bits', () => {
    expect(parseIncrAmount(body('{"amount": 41}'))).toBe(41n);
    expect(parseIncrAmount(body('{"amount": -3}'))).toBe(-3n);
    expect(parseIncrAmount(body('{"amount": "9223372036854775807"}'))).toBe(2n ** 63n - 1n);
    expect(parseIncrAmount(body('{"amount": "-9223372036854775808"}'))).toBe(-(2n ** 63n));
  });

  it.each([
    ['an empty body sent with a content type', ''],
    ['an array', '[]'],
    ['a deeply nested array', '['.repeat(100_000) + ']'.repeat(100_000)],
    ['null', 'null'],
    ['a number', '5'],
    ['a string', '"5"'],
    ['an unknown member', '{"amount": 1, "by": 2}'],
    ['a misspelt member', '{"amout": 5}'],
    ['a null amount', '{"amount": null}'],
    ['a fractional amount', '{"amount": 1.5}'],
    ['an amount beyond 2^53 as a number', '{"amount": 9007199254740993}'],
    ['an amount beyond 64 bits', '{"amount": "9223372036854775808"}'],
    ['malformed JSON', '{"amount": '],
  ])('refuses %s with BAD_REQUEST', (_what, text) => {
    const err = rejection(body(text));
    expect(isKvError(err) && err.code).toBe('BAD_REQUEST');
  });
});
