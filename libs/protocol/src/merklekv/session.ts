import { type SessionInput, type SessionProtocol } from '../session/session.js';
import { MerkleKvDecoder, type MerkleKvEvent } from './decoder.js';
import { encodeMerkleKvError, encodeMerkleKvReply } from './reply.js';
import { encodeMerkleKvWatchEvent, WATCH_END } from './watch.js';

const LINE_TOO_LONG: SessionInput = { kind: 'fatal', reply: encodeMerkleKvError('line too long'), countsAsError: true };
/** Invalid UTF-8 closes the connection without a reply, as the reference server does. */
const NOT_UTF8: SessionInput = { kind: 'fatal', reply: Buffer.alloc(0), countsAsError: false };

function sessionInput(event: MerkleKvEvent): SessionInput {
  switch (event.kind) {
    case 'command':
    case 'error':
      return event;
    case 'tooLong':
      return LINE_TOO_LONG;
    case 'invalidUtf8':
      return NOT_UTF8;
  }
}

/** The MerkleKV text protocol for a {@link ProtocolSession}. */
export const MERKLEKV_SESSION_PROTOCOL: SessionProtocol = {
  createDecoder: (accept) => new MerkleKvDecoder((event) => accept(sessionInput(event))),
  encodeReply: (command, result) => encodeMerkleKvReply(command, result as never),
  encodeError: encodeMerkleKvError,
  encodeWatchEvent: encodeMerkleKvWatchEvent,
  watchEnd: WATCH_END,
};
