/**
 * Numeric commands: INC/INCR and DEC/DECR, all decoded as one `INCR` command whose amount is
 * negated for DEC. The arguments are split on Unicode white space like the reference
 * (`split_whitespace`); tokens after the amount are ignored, as there.
 *
 * A DEC amount of i64::MIN negates to 2^63, which no i64 holds: it is passed on as a bigint and the
 * command layer reports the overflow like any other out-of-range result.
 */
import { type ParseResult, type ReplyEncoders, textOf, unknownCommand, type WordParser } from './syntax.js';
import { parseI64, splitWhitespace } from './text.js';
import { textLine } from './reply-bytes.js';

function numericParser(sign: 1n | -1n): WordParser {
  return (line, rest, end, word, upper): ParseResult => {
    // The reference lists no bare INC/DEC: alone, the word is an unknown command.
    if (rest < 0) return unknownCommand(word);
    const parts = splitWhitespace(textOf(line, rest, end));
    const key = parts[0];
    // `INC 5`: a lone number is taken for a missing key, as in the reference.
    if (key === undefined || (parts.length === 1 && parseI64(key) !== undefined)) return `${upper} command requires a key`;
    let amount = 1n;
    const amountText = parts[1];
    if (amountText !== undefined) {
      const parsed = parseI64(amountText);
      if (parsed === undefined) return `${upper} command amount must be a valid number`;
      amount = parsed;
    }
    return { name: 'INCR', key, amount: sign * amount };
  };
}

const increment = numericParser(1n);
const decrement = numericParser(-1n);

export const numericParsers: Readonly<Record<string, WordParser>> = {
  INC: increment,
  INCR: increment,
  DEC: decrement,
  DECR: decrement,
};

export const numericEncoders: ReplyEncoders<'INCR'> = {
  INCR: (_command, value) => textLine(`VALUE ${value}`),
};
