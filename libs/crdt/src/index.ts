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
  type EntryAttributes,
  type EntryType,
  type Expiry,
  type LiveEntry,
  type Mutation,
  type RegisterEntry,
  type SetEntry,
  type TombstoneEntry,
  type Version,
  ZERO_TOMBSTONE,
  asOf,
  assign,
  compareVersions,
  entryBytes,
  expiredForm,
  expiresAt,
  increment,
  isLive,
  isLiveAt,
  latestHlc,
  latestStamp,
  merge,
  remove,
  setAdd,
  setRemove,
  touch,
} from './entry.js';
export { type CounterRange, INT64_MAX, INT64_MIN, UINT64_MAX, counterValue, parseInt64, parseUint64 } from './counter.js';
export { elementKey, setHas, setMembers, setSize } from './orset.js';
export { ATTRIBUTES_FORMAT_VERSION, FORMAT_VERSION, decodeEntry, encodeEntry } from './codec.js';
export { entryCas, entryDigest } from './digest.js';
export { type CrdtErrorCode, ClockDriftError, CrdtError, isCrdtError } from './errors.js';
