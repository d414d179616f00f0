/**
 * #mst: the Merkle Search Tree of a shard, its diff, its remote descent and its proofs.
 * The design essay is at the top of tree.ts.
 */
export { MerkleSearchTree, type MstOptions, type MstEntry, type KeyRange, type PersistedRoot, type TreeCheckpoint, treeStats } from './tree.js';
export { diff, diffEntries, type DiffEntry, type KeyDiff } from './diff.js';
export {
  DiffSession,
  type DiffSessionOptions,
  type DiffSessionStats,
  SnapshotCache,
  summarize,
  serveSummaries,
  encodeRequest,
  decodeRequest,
  encodeResponse,
  decodeResponse,
  type NodeRef,
  type SummaryRequest,
  type SummaryResponse,
  Writer,
} from './sync.js';
export { rangeFingerprint, topKeys, keysFromLayer, pieceFingerprints, scanPieces, scanRange, type EntryVisitor, RANGE_FINGERPRINT_BYTES } from './ranges.js';
export { prove, verifyProof, verifyInclusion, verifyAbsence, encodeProof, decodeProof, type MstProof, type ProofVerdict } from './proof.js';
export { NodeSummary, type DecodeLimits, decodeNode, Reader } from './wire.js';
export { keyLayer, layerOfHash, DEFAULT_FANOUT } from './layer.js';
export { createdNodeBytes, DIGEST_BYTES, EMPTY_ROOT, HASH_BYTES, type NodeSource, recordChildIds } from './node.js';
export { MstError, isMstError, type MstErrorCode } from './errors.js';
export { compareBytes, equalBytes, toHex, fromHex } from './bytes.js';
