/**
 * WATCH [prefix]: our extension of the protocol (the reference has no change feed). The reply is
 * `WATCHING <prefix>` (bare `WATCHING` for all keys), then one line per committed change of a
 * key with that literal prefix, from this node or replicated from another:
 *
 *   CHANGE <key> <value>   the key's new value, as GET would answer it
 *   DELETED <key>          the key was deleted
 *   TRUNCATED              the keyspace (or a shard of it) was truncated
 *
 * Events follow commit groups: a key written several times within one group (a few hundred
 * microseconds) is reported once, with its state after the group.
 *
 * The next line the client sends ends the watch (that line is not executed): the node answers
 * `END` and the connection takes commands again.
 */
import { type WatchEvent } from '#commands';

import { prefixedLine, textLine } from './reply-bytes.js';
import { hasSpace, hasTab, type ParseResult, type ReplyEncoders, TAB_IN_PREFIX, textOf, type WordParser } from './syntax.js';

function parseWatch(line: Buffer, rest: number, end: number): ParseResult {
  if (rest < 0) return { name: 'WATCH', prefix: '' };
  if (hasSpace(line, rest, end)) return 'WATCH command accepts only one argument';
  if (hasTab(line, rest, end)) return TAB_IN_PREFIX;
  return { name: 'WATCH', prefix: textOf(line, rest, end) };
}

export const watchParsers: Readonly<Record<string, WordParser>> = { WATCH: parseWatch };

export const watchEncoders: ReplyEncoders<'WATCH'> = {
  WATCH: (command) => textLine(command.prefix === '' ? 'WATCHING' : `WATCHING ${command.prefix}`),
};

const TRUNCATED = textLine('TRUNCATED');
export const WATCH_END = textLine('END');

/** One event line of a running watch. */
export function encodeMerkleKvWatchEvent(event: WatchEvent): Buffer {
  switch (event.kind) {
    case 'change':
      return prefixedLine(Buffer.from(`CHANGE ${event.key} `, 'utf8'), event.value);
    case 'deleted':
      return textLine(`DELETED ${event.key}`);
    case 'truncated':
      return TRUNCATED;
  }
}
