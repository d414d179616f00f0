import { randomBytes } from 'node:crypto';
import { decodeHlc, encodeHlc, type Hlc, type NodeId, type Stamp, ZERO_STAMP } from '#crdt';
import { HASH_BYTES, type PersistedRoot } from '#mst';
import { type PersistOp, type StorageEngine } from './engine.js';
import { StoreError } from './errors.js';
import { decodeStamp, encodeStamp } from './stamp-codec.js';

/** A shard's live keys and their key and value bytes. */
export interface ShardCounts {
  readonly keys: number;
  readonly bytes: number;
}

/**
 * Data directory formats:
 *
 * 1. entries, outbox and metadata; the store loaded every entry at open and built its trees.
 * 2. adds per-shard counts and the clock's high-water mark, kept with every commit group (the
 *    counts of a shard with every group that changes them), and
 *    the Merkle Search Trees: node records, a root per shard, markers of the keys a stored tree
 *    does not cover yet, and graveyard records; open reads no entry.
 *
 * A directory of format 1 is upgraded in place at open (one pass over its entries); one of a
 * newer format than this release knows is refused.
 */
export const FORMAT = 2;

const META_FORMAT = 'format';
const META_NODE_ID = 'node_id';
const META_SHARDS = 'shards';
export const META_OUTBOX_SEQ = 'outbox_seq';
/** The clock's last value as of the commit group: every stamp stored is at or below it. */
export const META_CLOCK = 'clock';
export const metaFloor = (shard: number): string => `floor/${shard}`;
export const metaCounts = (shard: number): string => `counts/${shard}`;
export const metaTreeRoot = (shard: number): string => `tree/${shard}`;
/** The next tree node record id (one sequence for all shards). */
export const META_TREE_IDS = 'tree_ids';

/** What a store reads from its metadata at open. */
export interface StoreMetadata {
  readonly nodeId: NodeId;
  /** The format the directory was found in: below {@link FORMAT} means it must be upgraded. */
  readonly format: number;
  readonly floors: readonly Stamp[];
  /** Per-shard counts (zeros when the format kept none). */
  readonly counts: readonly ShardCounts[];
  readonly clock: Hlc | undefined;
  readonly outboxSeq: bigint;
  /** Per-shard stored tree roots (null: empty, or not stored in format 1). */
  readonly treeRoots: readonly (PersistedRoot | null)[];
  readonly nextTreeId: number;
}

/**
 * Reads (and for a new directory, writes) the store's metadata: node id, shard count, format,
 * floors, counts, clock and outbox sequence. Refuses another shard count or a newer format.
 */
export async function readMetadata(engine: StorageEngine, shards: number, configuredNodeId: NodeId | undefined): Promise<StoreMetadata> {
  const storedId = text(engine.getMeta(META_NODE_ID));
  const storedShards = text(engine.getMeta(META_SHARDS));
  const storedFormat = text(engine.getMeta(META_FORMAT));
  // A directory with no node id has never been opened: it starts in the current format.
  const format = storedFormat !== undefined ? Number(storedFormat) : storedId === undefined ? FORMAT : 1;
  if (!Number.isInteger(format) || format < 1 || format > FORMAT) {
    throw new StoreError(
      'FORMAT',
      `the data directory is in storage format ${storedFormat}, newer than this release reads (${FORMAT}); run a release that knows it, or start on an empty directory`,
    );
  }
  if (storedShards !== undefined && Number(storedShards) !== shards) {
    throw new StoreError('SHARD_COUNT', `the data directory holds ${storedShards} shards but ${shards} are configured; start with --shards ${storedShards}`);
  }
  const nodeId = configuredNodeId ?? storedId ?? `node-${randomBytes(4).toString('hex')}`;
  const updates: PersistOp[] = [];
  if (storedId !== nodeId) updates.push(metaText(META_NODE_ID, nodeId));
  if (storedShards === undefined) updates.push(metaText(META_SHARDS, String(shards)));
  if (storedFormat === undefined && format === FORMAT) updates.push(metaText(META_FORMAT, String(FORMAT)));
  if (updates.length > 0) await engine.write(updates, true);

  const floors: Stamp[] = [];
  const counts: ShardCounts[] = [];
  const treeRoots: (PersistedRoot | null)[] = [];
  for (let shard = 0; shard < shards; shard++) {
    const floor = engine.getMeta(metaFloor(shard));
    floors.push(floor ? decodeStamp(floor) : ZERO_STAMP);
    const stored = format >= 2 ? engine.getMeta(metaCounts(shard)) : undefined;
    counts.push(stored ? decodeCounts(stored) : { keys: 0, bytes: 0 });
    const root = format >= 2 ? engine.getMeta(metaTreeRoot(shard)) : undefined;
    treeRoots.push(root ? decodeTreeRoot(root) : null);
  }
  const clock = engine.getMeta(META_CLOCK);
  const seq = engine.getMeta(META_OUTBOX_SEQ);
  const treeIds = engine.getMeta(META_TREE_IDS);
  return {
    nodeId,
    format,
    floors,
    counts,
    clock: clock ? decodeHlc(clock) : undefined,
    outboxSeq: seq ? Buffer.from(seq).readBigUInt64BE(0) : 1n,
    treeRoots,
    nextTreeId: treeIds ? Number(Buffer.from(treeIds).readBigUInt64BE(0)) : 1,
  };
}

/** What a data directory says of itself, read without writing; undefined when it holds no store. */
export function storedIdentity(engine: StorageEngine): { readonly nodeId: NodeId; readonly shards: number; readonly format: number } | undefined {
  const nodeId = text(engine.getMeta(META_NODE_ID));
  const shards = Number(text(engine.getMeta(META_SHARDS)));
  if (nodeId === undefined || !Number.isInteger(shards) || shards < 1) return undefined;
  return { nodeId, shards, format: Number(text(engine.getMeta(META_FORMAT)) ?? 1) };
}

/** A shard's stored tree root: `id:u64 size:u64 hash`; an empty tree has no record. */
export function treeRootOp(shard: number, root: PersistedRoot | null): PersistOp {
  if (root === null) return { type: 'meta-del', name: metaTreeRoot(shard) };
  const out = Buffer.allocUnsafe(16 + HASH_BYTES);
  out.writeBigUInt64BE(BigInt(root.id), 0);
  out.writeBigUInt64BE(BigInt(root.size), 8);
  out.set(root.hash, 16);
  return { type: 'meta-put', name: metaTreeRoot(shard), value: out };
}

export function decodeTreeRoot(bytes: Uint8Array): PersistedRoot {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length !== 16 + HASH_BYTES) throw new StoreError('FORMAT', `a tree root needs ${16 + HASH_BYTES} bytes, found ${buf.length}`);
  return { id: Number(buf.readBigUInt64BE(0)), size: Number(buf.readBigUInt64BE(8)), hash: Uint8Array.from(buf.subarray(16)) };
}

export function treeIdsOp(next: number): PersistOp {
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64BE(BigInt(next));
  return { type: 'meta-put', name: META_TREE_IDS, value: out };
}

/** A graveyard record: the node record ids, u64 each. */
export function encodeIds(ids: readonly number[]): Uint8Array {
  const out = Buffer.allocUnsafe(8 * ids.length);
  ids.forEach((id, i) => out.writeBigUInt64BE(BigInt(id), 8 * i));
  return out;
}

export function decodeIds(bytes: Uint8Array): number[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ids: number[] = [];
  for (let at = 0; at + 8 <= buf.length; at += 8) ids.push(Number(buf.readBigUInt64BE(at)));
  return ids;
}

/** The metadata writes that finish an upgrade to the current format. */
export function upgradeOps(counts: readonly ShardCounts[], clock: Hlc): PersistOp[] {
  return [
    ...counts.map((c, shard) => countsOp(shard, c)),
    clockOp(clock),
    metaText(META_FORMAT, String(FORMAT)),
  ];
}

export function floorOp(shard: number, floor: Stamp): PersistOp {
  return { type: 'meta-put', name: metaFloor(shard), value: encodeStamp(floor) };
}

export function clockOp(clock: Hlc): PersistOp {
  return { type: 'meta-put', name: META_CLOCK, value: encodeHlc(clock) };
}

export function countsOp(shard: number, counts: ShardCounts): PersistOp {
  return { type: 'meta-put', name: metaCounts(shard), value: encodeCounts(counts) };
}

export function outboxSeqOp(next: bigint): PersistOp {
  const seq = Buffer.allocUnsafe(8);
  seq.writeBigUInt64BE(next);
  return { type: 'meta-put', name: META_OUTBOX_SEQ, value: seq };
}

function encodeCounts(counts: ShardCounts): Uint8Array {
  const out = Buffer.allocUnsafe(16);
  out.writeBigUInt64BE(BigInt(counts.keys), 0);
  out.writeBigUInt64BE(BigInt(counts.bytes), 8);
  return out;
}

function decodeCounts(bytes: Uint8Array): ShardCounts {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length !== 16) throw new StoreError('FORMAT', `shard counts need 16 bytes, found ${buf.length}`);
  return { keys: Number(buf.readBigUInt64BE(0)), bytes: Number(buf.readBigUInt64BE(8)) };
}

function metaText(name: string, value: string): PersistOp {
  return { type: 'meta-put', name, value: Buffer.from(value, 'utf8') };
}

function text(bytes: Uint8Array | undefined): string | undefined {
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}
