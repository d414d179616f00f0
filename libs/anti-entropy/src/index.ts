/**
 * #anti-entropy: replicas find and repair any drift through their Merkle Search Trees. Pure
 * TypeScript over #store, #mst and #crdt: it talks to a peer only through an injected
 * request/reply function, so the same session runs over NATS and over the text protocol.
 *
 * - session.ts: the initiator, and the design essay (why this exchange, its cost)
 * - responder.ts: answers a peer's messages, validating everything
 * - codec.ts: the versioned wire format
 * - sketch.ts: the invertible Bloom lookup table a v2 session compares ranges with
 * - reconcile.ts: what both sides of a v2 session compute alike (ranges, estimate, sketches)
 * - tombstones.ts: when a tombstone may be collected, and why that never resurrects a value
 * - reference.ts: SYNC's SCAN/GET fallback for servers without anti-entropy
 * - coordinator.ts: the round policy: when the next round runs, and with which peer
 */
export {
  type BatchReply,
  type BatchRequest,
  type CodecLimits,
  type ErrorReply,
  type HelloReply,
  type HelloRequest,
  type HelloShard,
  type Op,
  type OpResult,
  PROTOCOL_VERSION,
  type ProtocolVersion,
  type Span,
  type FingerprintSpan,
  type TopRanges,
  type Reply,
  type Request,
  decodeReply,
  decodeRequest,
  encodeReply,
  encodeRequest,
} from './codec.js';
export { AntiEntropyCoordinator, type AntiEntropyCoordinatorOptions, type RoundCandidate, type RoundTarget } from './coordinator.js';
export { ANTI_ENTROPY_ERROR_CODES, AntiEntropyError, type AntiEntropyErrorCode, isAntiEntropyError } from './errors.js';
export { RESPONDER_DEFAULTS, Responder, type ResponderLimits, type ResponderOptions, type ResponderStats } from './responder.js';
export {
  SESSION_DEFAULTS,
  type SessionLimits,
  type SessionOptions,
  type SessionProgress,
  type SessionReport,
  type Transport,
  runSession,
} from './session.js';
export { Sketch, cellsFor } from './sketch.js';
export { TombstoneCollector, type TombstoneCollectorOptions, isOldTombstone } from './tombstones.js';
export { type KeyValuePeer, type ReferencePullReport, pullFromReference } from './reference.js';
