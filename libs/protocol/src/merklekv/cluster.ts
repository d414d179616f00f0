/**
 * Cluster commands: HASH [prefix | *], SYNC host port [--full] [--verify], REPLICATE enable|disable|status.
 */
import { OK, textLine } from './reply-bytes.js';
import {
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
import { parseU16, splitWhitespace } from './text.js';

/** Bare HASH covers all keys; `HASH *` too (the reply echoes the `*`); otherwise a literal prefix. */
function parseHash(line: Buffer, rest: number, end: number): ParseResult {
  if (rest < 0) return { name: 'HASH' };
  if (hasSpace(line, rest, end)) return 'HASH command accepts only one argument';
  if (hasTab(line, rest, end)) return TAB_IN_KEY;
  return { name: 'HASH', pattern: textOf(line, rest, end) };
}

function parseSync(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  const [host, portText, ...options] = splitWhitespace(textOf(line, rest, end));
  if (host === undefined) return 'SYNC requires <host> as the first argument';
  if (portText === undefined) return 'SYNC requires <port> as the second argument';
  const port = parseU16(portText);
  if (port === undefined) return 'Invalid port: must be an integer in 0..=65535';
  let full = false;
  let verify = false;
  for (const option of options) {
    if (option === '--full') {
      if (full) return 'Duplicate option: --full';
      full = true;
    } else if (option === '--verify') {
      if (verify) return 'Duplicate option: --verify';
      verify = true;
    } else {
      return `Unknown option: ${option}`;
    }
  }
  return { name: 'SYNC', host, port, full, verify };
}

function parseReplicate(line: Buffer, rest: number, end: number, word: string): ParseResult {
  // The reference has no bare REPLICATE: alone, it is an unknown command.
  if (rest < 0) return unknownCommand(word);
  const args = splitWhitespace(textOf(line, rest, end));
  if (args.length === 0) return 'REPLICATE command requires an action';
  if (args.length > 1) return 'REPLICATE command accepts only one argument';
  const action = args[0]!.toLowerCase();
  if (action === 'enable' || action === 'disable' || action === 'status') return { name: 'REPLICATE', action };
  return 'REPLICATE action must be enable, disable, or status';
}

export const clusterParsers: Readonly<Record<string, WordParser>> = {
  HASH: parseHash,
  SYNC: parseSync,
  REPLICATE: parseReplicate,
};

export const clusterEncoders: ReplyEncoders<'HASH' | 'SYNC' | 'REPLICATE'> = {
  HASH: (command, root) => textLine(command.pattern === undefined ? `HASH ${root}` : `HASH ${command.pattern} ${root}`),
  SYNC: () => OK,
  REPLICATE: (command, status) => {
    if (command.action !== 'status') return OK;
    return textLine(status.enabled ? `REPLICATION enabled ${status.nodes} nodes` : 'REPLICATION disabled');
  },
};
