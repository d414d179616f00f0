/**
 * Expiry commands, as Redis users expect them: `EXPIRE key seconds` and `PERSIST key` (`OK`, or
 * `NOT_FOUND` when the key is absent or expired), `TTL key` (`TTL <seconds>`, `TTL -1` for a key
 * without expiry, `TTL -2` for an absent one). They run as the item commands TOUCH and LOOKUP;
 * the item commands no MerkleKV word produces (STORE, REMOVE, ADJUST) still get a reply, the
 * outcome word, so that the table covers every command.
 */
import { expiryAfterSeconds, remainingSeconds } from '#commands';

import { NOT_FOUND, OK, textLine } from './reply-bytes.js';
import { hasSpace, hasTab, type ParseResult, type ReplyEncoders, requiresArguments, TAB_IN_KEY, textOf, type WordParser } from './syntax.js';
import { indexOfByte } from './text.js';

const SPACE = 0x20;
const INTEGER = /^[+-]?\d{1,15}$/;

/** `<NAME> key`: one key, no tab; the command made of it, or the error. */
function keyOnly(make: (key: string) => ParseResult): WordParser {
  return (line, rest, end, _word, upper) => {
    if (rest < 0) return requiresArguments(upper);
    if (hasSpace(line, rest, end)) return `${upper} command accepts only one argument`;
    if (hasTab(line, rest, end)) return TAB_IN_KEY;
    return make(textOf(line, rest, end));
  };
}

const parseExpire: WordParser = (line, rest, end, _word, upper) => {
  if (rest < 0) return requiresArguments(upper);
  const space = indexOfByte(line, SPACE, rest, end);
  if (space < 0) return 'EXPIRE command requires a key and seconds';
  if (hasTab(line, rest, space)) return TAB_IN_KEY;
  const seconds = textOf(line, space + 1, end);
  if (!INTEGER.test(seconds)) return 'EXPIRE seconds must be an integer';
  return { name: 'TOUCH', key: textOf(line, rest, space), expiresAt: expiryAfterSeconds(Number(seconds), Date.now()) };
};

export const expiryParsers: Readonly<Record<string, WordParser>> = {
  EXPIRE: parseExpire,
  PERSIST: keyOnly((key) => ({ name: 'TOUCH', key })),
  TTL: keyOnly((key) => ({ name: 'LOOKUP', keys: [key] })),
};

const TTL_NONE = textLine('TTL -1');
const TTL_ABSENT = textLine('TTL -2');

export const expiryEncoders: ReplyEncoders<'TOUCH' | 'LOOKUP' | 'STORE' | 'REMOVE' | 'ADJUST'> = {
  TOUCH: (_command, result) => (result.outcome === 'TOUCHED' ? OK : NOT_FOUND),
  LOOKUP: (_command, [item]) => {
    if (item === undefined) return TTL_ABSENT;
    return item.expiresAt === undefined ? TTL_NONE : textLine(`TTL ${remainingSeconds(item.expiresAt, Date.now())}`);
  },
  STORE: (_command, result) => textLine(result.outcome),
  REMOVE: (_command, result) => textLine(result.outcome),
  ADJUST: (_command, result) => (result.outcome === 'ADJUSTED' ? textLine(`VALUE ${result.value}`) : textLine(result.outcome)),
};
