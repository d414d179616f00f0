/**
 * CRDTs of MerkleKV: the hybrid logical clock, stamps, entries (LWW register, PN-counter,
 * add-wins OR-set, tombstone) with their lattice merge and local operations, the canonical
 * binary codec and the per-entry digest. Pure TypeScript; the only I/O is node:crypto hashing.
 * The convergence rules are explained at the top of entry.ts.
 */
export { type Hlc, type HybridLogicalClockOptions, HybridLogicalClock, ZERO_HLC, compareHlc, decodeHlc, encodeHlc, isValidHlc } from './hlc.js';
export { type NodeId, type Stamp, ZERO_STAMP, compareStamps } from './stamp.js';
export {
  type CounterEntry,
  type Entry,
  type EntryType,
  type Mutation,
  type RegisterEntry,
  type SetEntry,
  type TombstoneEntry,
  type Version,
  ZERO_TOMBSTONE,
  assign,
  compareVersions,
  entryBytes,
  increment,
  isLive,
  latestHlc,
  latestStamp,
  merge,
  remove,
  setAdd,
  setRemove,
} from './entry.js';
export { INT64_MAX, INT64_MIN, counterValue, parseInt64 } from './counter.js';
export { elementKey, setHas, setMembers, setSize } from './orset.js';
export { FORMAT_VERSION, decodeEntry, encodeEntry } from './codec.js';
export { entryDigest } from './digest.js';
export { type CrdtErrorCode, ClockDriftError, CrdtError, isCrdtError } from './errors.js';
