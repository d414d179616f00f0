/**
 * Cluster commands: HASH [prefix | *], SYNC host port [--full] [--verify], REPLICATE enable|disable|status,
 * and AE <base64>, which carries one anti-entropy session message between nodes (the reply is
 * `AE <base64>`): how `SYNC host port` reaches a node through its MerkleKV port.
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

/** Canonical base64 only (padded, no whitespace), so that one message has one spelling. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parseAe(line: Buffer, rest: number, end: number, _word: string, upper: string): ParseResult {
  if (rest < 0) return requiresArguments(upper);
  const text = textOf(line, rest, end);
  if (!BASE64.test(text)) return 'AE takes one session message in base64';
  return { name: 'AE', message: Buffer.from(text, 'base64') };
}

export const clusterParsers: Readonly<Record<string, WordParser>> = {
  HASH: parseHash,
  SYNC: parseSync,
  REPLICATE: parseReplicate,
  AE: parseAe,
};

export const clusterEncoders: ReplyEncoders<'HASH' | 'SYNC' | 'REPLICATE' | 'AE'> = {
  HASH: (command, root) => textLine(command.pattern === undefined ? `HASH ${root}` : `HASH ${command.pattern} ${root}`),
  SYNC: () => OK,
  REPLICATE: (command, status) => {
    if (command.action !== 'status') return OK;
    return textLine(status.enabled ? `REPLICATION enabled ${status.nodes} nodes` : 'REPLICATION disabled');
  },
  AE: (_command, reply) => textLine(`AE ${Buffer.from(reply).toString('base64')}`),
};
