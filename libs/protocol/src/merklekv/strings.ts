/**
 * String commands: GET, SET, DEL/DELETE, APPEND, PREPEND.
 *
 * SET/APPEND/PREPEND split the arguments at the first space only: the key is what precedes it and
 * the value is everything after it, leading spaces and tabs included (the line was trimmed, so
 * trailing ones are gone). Keys may not hold a tab; a space ends them by construction.
 */
import { type Command } from '#commands';

import { DELETED, NOT_FOUND, OK, valueLine } from './reply-bytes.js';
import {
  bytesOf,
  hasSpace,
  hasTab,
  type ParseResult,
  type ReplyEncoders,
  requiresArguments,
  TAB_IN_KEY,
  textOf,
  unknownCommand,
  type WordParser,
} from './syntax.js';
import { indexOfByte } from './text.js';

const SPACE = 0x20;

function parseGet(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  if (hasSpace(line, rest, end)) return 'GET command accepts only one argument';
  if (hasTab(line, rest, end)) return TAB_IN_KEY;
  return { name: 'GET', key: textOf(line, rest, end) };
}

function parseDel(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  // Bare DEL/DELETE echoes the word used; the reference says DELETE in the other messages.
  if (rest < 0) return requiresArguments(upper);
  if (hasSpace(line, rest, end)) return 'DELETE command accepts only one argument';
  if (hasTab(line, rest, end)) return TAB_IN_KEY;
  return { name: 'DEL', key: textOf(line, rest, end) };
}

type KeyValueName = 'SET' | 'APPEND' | 'PREPEND';

/** `<NAME> key value…`: the shared grammar of SET, APPEND and PREPEND. */
function keyValueParser(name: KeyValueName, onBare: (word: string, upper: string) => string): WordParser {
  return (line, rest, end, word, upper) => {
    if (rest < 0) return onBare(word, upper);
    const space = indexOfByte(line, SPACE, rest, end);
    if (space < 0) return `${name} command requires a key and value`;
    if (space === rest) return `${name} command key cannot be empty`;
    if (hasTab(line, rest, space)) return TAB_IN_KEY;
    const command: Command = { name, key: textOf(line, rest, space), value: bytesOf(line, space + 1, end) };
    return command;
  };
}

export const stringParsers: Readonly<Record<string, WordParser>> = {
  GET: parseGet,
  SET: keyValueParser('SET', (_word, upper) => requiresArguments(upper)),
  DEL: parseDel,
  DELETE: parseDel,
  // The reference has no bare-word case for these: `APPEND` alone is an unknown command.
  APPEND: keyValueParser('APPEND', (word) => unknownCommand(word)),
  PREPEND: keyValueParser('PREPEND', (word) => unknownCommand(word)),
};

export const stringEncoders: ReplyEncoders<'GET' | 'SET' | 'DEL' | 'APPEND' | 'PREPEND'> = {
  GET: (_command, value) => (value === undefined ? NOT_FOUND : valueLine(value)),
  SET: () => OK,
  DEL: (_command, deleted) => (deleted ? DELETED : NOT_FOUND),
  APPEND: (_command, value) => valueLine(value),
  PREPEND: (_command, value) => valueLine(value),
};
