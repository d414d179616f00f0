/**
 * AUTH <user> <password>: our extension (the reference has no users). The password is everything
 * after the space that ends the user name, so it may hold spaces (not leading or trailing ones:
 * the line is trimmed). The reply is `OK`; a refusal is `ERROR invalid user name or password`,
 * whichever half was wrong.
 */
import { OK } from './reply-bytes.js';
import { hasTab, type ParseResult, type ReplyEncoders, requiresArguments, textOf, type WordParser } from './syntax.js';
import { indexOfByte } from './text.js';

const SPACE = 0x20;

function parseAuth(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  const space = indexOfByte(line, SPACE, rest, end);
  if (space < 0 || hasTab(line, rest, space)) return 'AUTH command requires a user name and a password';
  return { name: 'AUTH', user: textOf(line, rest, space), password: textOf(line, space + 1, end) };
}

export const authParsers: Readonly<Record<string, WordParser>> = { AUTH: parseAuth };

export const authEncoders: ReplyEncoders<'AUTH'> = { AUTH: () => OK };
