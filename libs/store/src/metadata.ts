import { randomBytes } from 'node:crypto';
import { decodeHlc, encodeHlc, type Hlc, type NodeId, type Stamp, ZERO_STAMP } from '#crdt';
import { type PersistOp, type StorageEngine } from './engine.js';
import { decodeStamp, encodeStamp } from './stamp-codec.js';

/** A shard's live keys and their key and value bytes. */
export interface ShardCounts {
  readonly keys: number;
  readonly bytes: number;
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  constructor(
    readonly code: 'STORAGE' | 'CLOSED' | 'SHARD_COUNT' | 'FORMAT',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Data directory formats:
 *
 * 1. entries, outbox and metadata; the store loaded every entry at open.
 * 2. adds per-shard counts and the clock's high-water mark, kept with every commit group, so that
 *    open reads no entry to know them.
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
  for (let shard = 0; shard < shards; shard++) {
    const floor = engine.getMeta(metaFloor(shard));
    floors.push(floor ? decodeStamp(floor) : ZERO_STAMP);
    const stored = format >= 2 ? engine.getMeta(metaCounts(shard)) : undefined;
    counts.push(stored ? decodeCounts(stored) : { keys: 0, bytes: 0 });
  }
  const clock = engine.getMeta(META_CLOCK);
  const seq = engine.getMeta(META_OUTBOX_SEQ);
  return {
    nodeId,
    format,
    floors,
    counts,
    clock: clock ? decodeHlc(clock) : undefined,
    outboxSeq: seq ? Buffer.from(seq).readBigUInt64BE(0) : 1n,
  };
}

/** The metadata writes that finish an upgrade to the current format. */
export function upgradeOps(counts: readonly ShardCounts[], clock: Hlc): PersistOp[] {
  return [
    ...counts.map((c, shard) => ({ type: 'meta-put' as const, name: metaCounts(shard), value: encodeCounts(c) })),
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
