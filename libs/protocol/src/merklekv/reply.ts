/**
 * Reply encoding: a command and its result to the exact reply bytes of the MerkleKV protocol.
 * Each command family encodes its own replies; this module only dispatches.
 */
import { type Command, type ResultOf } from '#commands';

import { type ReplyBytes } from '../session/reply-bytes.js';
import { authEncoders } from './auth.js';
import { bulkEncoders } from './bulk.js';
import { clusterEncoders } from './cluster.js';
import { expiryEncoders } from './expiry.js';
import { numericEncoders } from './numeric.js';
import { textLine } from './reply-bytes.js';
import { serverEncoders } from './server.js';
import { stringEncoders } from './strings.js';
import { type ReplyEncoders } from './syntax.js';
import { watchEncoders } from './watch.js';

const ENCODERS: ReplyEncoders<Command['name']> = {
  ...stringEncoders,
  ...numericEncoders,
  ...bulkEncoders,
  ...serverEncoders,
  ...clusterEncoders,
  ...watchEncoders,
  ...expiryEncoders,
  ...authEncoders,
};

/**
 * The reply to `command` given its `result`: whole `\r\n`-terminated lines, as one Buffer or (a
 * large value) as pieces. Fixed replies (`OK`, `NOT_FOUND`, ...) are shared Buffers: write them,
 * never mutate them.
 */
export function encodeMerkleKvReply<C extends Command>(command: C, result: ResultOf[C['name']]): ReplyBytes {
  // The table is typed per command name; TypeScript cannot correlate the generic key with it.
  const encode = ENCODERS[command.name] as (command: C, result: ResultOf[C['name']]) => ReplyBytes;
  return encode(command, result);
}

/**
 * `ERROR <message>\r\n`. A CR or LF inside the message would break the line framing of every
 * reply after it, so each becomes a space.
 */
export function encodeMerkleKvError(message: string): Buffer {
  return textLine(`ERROR ${message.replace(/[\r\n]/g, ' ')}`);
}
