import { type Command, type CommandName, type CommandOf, type ResultOf } from '#commands';

import { type ReplyBytes } from '../session/reply-bytes.js';
import { indexOfByte } from './text.js';

/**
 * The contract between the line parser and the command families: each family file maps its
 * command words to a {@link WordParser} and its command names to a {@link ReplyEncoder}.
 */

/** A parsed command, or the message to send after `ERROR `. */
export type ParseResult = Command | string;

/**
 * Parses what follows one command word. The trimmed line is `line[.., end)`; `rest` is the index
 * just after the space that ends the word, or -1 when the line is the bare word. `word` is the
 * word as sent (for `Unknown command: <word>`), `upper` its upper-case form (Rust `to_uppercase`).
 * Because the line is trimmed, `rest` < `end` whenever `rest` >= 0.
 */
export type WordParser = (line: Buffer, rest: number, end: number, word: string, upper: string) => ParseResult;

export type ReplyEncoder<N extends CommandName> = (command: CommandOf<N>, result: ResultOf[N]) => ReplyBytes;
export type ReplyEncoders<N extends CommandName> = { readonly [K in N]: ReplyEncoder<K> };

// Error texts shared by several families, byte-exact with the reference server.
export const unknownCommand = (word: string): string => `Unknown command: ${word}`;
export const requiresArguments = (upper: string): string => `${upper} command requires arguments`;
export const TAB_IN_COMMAND = 'Invalid character: tab character not allowed in command';
export const TAB_IN_KEY = 'Invalid character: tab character not allowed in key';
export const TAB_IN_MESSAGE = 'Invalid character: tab character not allowed in message';
export const TAB_IN_PREFIX = 'Invalid character: tab character not allowed in prefix';

const SPACE = 0x20;
const TAB = 0x09;

/** UTF-8 text of line[start, end). */
export const textOf = (line: Buffer, start: number, end: number): string => line.toString('utf8', start, end);

/** A fresh copy of line[start, end): values outlive the read buffer they were parsed from. */
export function bytesOf(line: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(end - start);
  line.copy(out, 0, start, end);
  return out;
}

// Bounded scans: `line` may be a whole read chunk, so a native indexOf would run past `end`.
export const hasSpace = (line: Buffer, start: number, end: number): boolean => indexOfByte(line, SPACE, start, end) !== -1;
export const hasTab = (line: Buffer, start: number, end: number): boolean => indexOfByte(line, TAB, start, end) !== -1;
