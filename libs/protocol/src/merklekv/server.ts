/**
 * Server commands: PING, ECHO, STATS, INFO, VERSION, DBSIZE, MEMORY, CLIENT LIST, SHUTDOWN and
 * TRUNCATE (alias FLUSHDB, FLUSH).
 *
 * Arity follows the reference word by word: STATS, INFO, TRUNCATE and FLUSHDB ignore arguments;
 * DBSIZE and MEMORY reject them; VERSION, SHUTDOWN and FLUSH exist only as bare words, so with
 * arguments they are unknown commands.
 */
import { type ClientInfo, type Command } from '#commands';

import { OK, textLine, textLines } from './reply-bytes.js';
import {
  hasTab,
  type ParseResult,
  type ReplyEncoders,
  requiresArguments,
  TAB_IN_MESSAGE,
  textOf,
  unknownCommand,
  type WordParser,
} from './syntax.js';
import { splitWhitespace } from './text.js';

/** A word that takes no arguments and ignores any it is given. */
const ignoringArguments =
  (command: Command): WordParser =>
  () =>
    command;

/** A word that exists only bare: with arguments it is unknown. */
const bareOnly =
  (command: Command): WordParser =>
  (_line, rest, _end, word) =>
    rest < 0 ? command : unknownCommand(word);

/** A word that rejects arguments with `<NAME> command does not accept any arguments`. */
const noArguments =
  (command: Command, upper: string): WordParser =>
  (_line, rest) =>
    rest < 0 ? command : `${upper} command does not accept any arguments`;

function parsePing(line: Buffer, rest: number, end: number): ParseResult {
  if (rest < 0) return { name: 'PING' };
  if (hasTab(line, rest, end)) return TAB_IN_MESSAGE;
  return { name: 'PING', message: textOf(line, rest, end) };
}

function parseEcho(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  if (hasTab(line, rest, end)) return TAB_IN_MESSAGE;
  return { name: 'ECHO', message: textOf(line, rest, end) };
}

/** `CLIENT LIST`; bare `CLIENT` lists too, as in the reference. The subcommand is ASCII case-insensitive. */
function parseClient(line: Buffer, rest: number, end: number): ParseResult {
  if (rest < 0) return { name: 'CLIENT_LIST' };
  const sub = splitWhitespace(textOf(line, rest, end))[0];
  return sub !== undefined && /^list$/i.test(sub) ? { name: 'CLIENT_LIST' } : 'Unknown CLIENT subcommand';
}

const TRUNCATE: Command = { name: 'TRUNCATE' };

export const serverParsers: Readonly<Record<string, WordParser>> = {
  PING: parsePing,
  ECHO: parseEcho,
  STATS: ignoringArguments({ name: 'STATS' }),
  INFO: ignoringArguments({ name: 'INFO' }),
  VERSION: bareOnly({ name: 'VERSION' }),
  DBSIZE: noArguments({ name: 'DBSIZE' }, 'DBSIZE'),
  MEMORY: noArguments({ name: 'MEMORY' }, 'MEMORY'),
  CLIENT: parseClient,
  SHUTDOWN: bareOnly({ name: 'SHUTDOWN' }),
  TRUNCATE: ignoringArguments(TRUNCATE),
  FLUSHDB: ignoringArguments(TRUNCATE),
  FLUSH: bareOnly(TRUNCATE),
};

const keyValueLines = (title: string, pairs: readonly (readonly [string, string])[]): Buffer =>
  textLines([title, ...pairs.map(([key, value]) => `${key}:${value}`)]);

const clientLine = (client: ClientInfo): string =>
  `id=${client.id} addr=${client.addr} age=${client.ageSeconds} idle=${client.idleSeconds}`;

const PONG = textLine('PONG');

export const serverEncoders: ReplyEncoders<
  'PING' | 'ECHO' | 'STATS' | 'INFO' | 'VERSION' | 'DBSIZE' | 'MEMORY' | 'CLIENT_LIST' | 'SHUTDOWN' | 'TRUNCATE'
> = {
  // Never `PONG ` with a trailing space (the reference's bug that breaks client health checks).
  PING: (_command, message) => (message === undefined || message === '' ? PONG : textLine(`PONG ${message}`)),
  ECHO: (_command, message) => textLine(`ECHO ${message}`),
  STATS: (_command, stats) => keyValueLines('STATS', stats),
  INFO: (_command, info) => keyValueLines('INFO', info),
  VERSION: (_command, version) => textLine(`VERSION ${version}`),
  DBSIZE: (_command, size) => textLine(`DBSIZE ${size}`),
  MEMORY: (_command, bytes) => textLine(`MEMORY ${bytes}`),
  CLIENT_LIST: (_command, clients) => textLines(['CLIENT LIST', ...clients.map(clientLine), 'END']),
  SHUTDOWN: () => OK,
  TRUNCATE: () => OK,
};
