/**
 * One request line to a command, as the reference server's `Protocol::parse` does it: trim the
 * line (Rust `str::trim`), reject an empty one, take the command word up to the first ASCII space,
 * reject a tab inside it, match it case-insensitively (Rust `to_uppercase`), and let the command's
 * family parse the rest.
 */
import { bulkParsers } from './bulk.js';
import { clusterParsers } from './cluster.js';
import { expiryParsers } from './expiry.js';
import { watchParsers } from './watch.js';
import { numericParsers } from './numeric.js';
import { serverParsers } from './server.js';
import { stringParsers } from './strings.js';
import { hasTab, type ParseResult, TAB_IN_COMMAND, textOf, unknownCommand, type WordParser } from './syntax.js';
import { indexOfByte, trimEndIndex, trimStartIndex } from './text.js';

const PARSERS: ReadonlyMap<string, WordParser> = new Map(
  Object.entries({ ...stringParsers, ...numericParsers, ...bulkParsers, ...serverParsers, ...clusterParsers, ...watchParsers, ...expiryParsers }),
);

const SPACE = 0x20;

/**
 * Parses line[start, end), the bytes before the `\n`, which must be valid UTF-8. Never throws on
 * any valid UTF-8 input: a malformed request comes back as its error message.
 */
export function parseMerkleKvLine(line: Buffer, start: number, end: number): ParseResult {
  const from = trimStartIndex(line, start, end);
  const to = trimEndIndex(line, from, end);
  if (from === to) return 'Empty command';
  const space = indexOfByte(line, SPACE, from, to);
  const wordEnd = space < 0 ? to : space;
  if (hasTab(line, from, wordEnd)) return TAB_IN_COMMAND;
  const word = textOf(line, from, wordEnd);
  const upper = word.toUpperCase();
  const parser = PARSERS.get(upper);
  if (parser === undefined) return unknownCommand(word);
  return parser(line, space < 0 ? -1 : space + 1, to, word, upper);
}
