/**
 * Protocol codecs: pure byte-level encoders and decoders, no sockets. A protocol adapter feeds a
 * decoder the bytes it reads, executes each decoded command, and writes the encoded reply.
 */
export {
  MERKLEKV_MAX_LINE_BYTES,
  MerkleKvDecoder,
  type MerkleKvEvent,
  type MerkleKvDecoderOptions,
} from './merklekv/decoder.js';
export { encodeMerkleKvError, encodeMerkleKvReply } from './merklekv/reply.js';
export { encodeMerkleKvWatchEvent, WATCH_END } from './merklekv/watch.js';
export { MERKLEKV_SESSION_PROTOCOL } from './merklekv/session.js';
export {
  DEFAULT_SESSION_LIMITS,
  ProtocolSession,
  type SessionDecoder,
  type SessionDeps,
  type SessionInput,
  type SessionLimits,
  type SessionProtocol,
  type SessionTimeouts,
  type SessionTransport,
} from './session/session.js';
export { MemcachedCounters } from './memcached/commands.js';
export { MemcachedDecoder, type MemcachedEvent, type MemcachedDecoderOptions } from './memcached/decoder.js';
export { type Framing, type MemcachedRequest, MEMCACHED_MAX_KEY_BYTES } from './memcached/request.js';
export { MemcachedDispatch, memcachedSessionProtocol, type MemcachedProtocolDeps } from './memcached/session.js';
