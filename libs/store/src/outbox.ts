import { decodeEntry, encodeEntry, type Entry, merge, type Stamp } from '#crdt';
import { type PersistOp } from './engine.js';
import { decodeStamp, encodeStamp } from './stamp-codec.js';

/** A local change to replicate: a key's CRDT change, or a shard's new truncation floor. */
export type StoreChange =
  | { readonly kind: 'entry'; readonly shard: number; readonly key: string; readonly entry: Entry }
  | { readonly kind: 'truncate'; readonly shard: number; readonly floor: Stamp };

export interface OutboxRecord {
  /** Monotonic per node, never reused (it is persisted), so it can name the change on the wire. */
  readonly seq: bigint;
  readonly change: StoreChange;
  /** The W3C traceparent of the write that made it, when traced (memory only: not persisted). */
  readonly trace?: string;
}

/**
 * The outbox: local changes committed together with the mutation that made them, kept until
 * the replicator has them acknowledged by NATS. It lives in the store's write batches (so a
 * change is never acknowledged to a client without its outbox record) and in memory for the
 * publisher to read.
 *
 * Changes are CRDT states, and a later state of a key subsumes an earlier one (merge is a join),
 * so while a key's change waits unsent, a new change of that key replaces it with their merge
 * under a new seq. An outbox that grows while NATS is away is thus bounded by the number of
 * distinct keys written, not by the number of writes.
 */
export class Outbox {
  /** Committed records by seq; `order` lists seqs ascending and may hold removed ones. */
  private readonly records = new Map<bigint, OutboxRecord>();
  private order: bigint[] = [];
  /** The unsent record of each shard/key, committed or staged in the current group. */
  private readonly latestByKey = new Map<string, OutboxRecord>();
  private stagedAdds: OutboxRecord[] = [];
  /** Records of this group replaced by a later change of their key in the same group. */
  private readonly supersededInGroup = new Set<OutboxRecord>();
  private stagedRemovals: bigint[] = [];
  private readonly listeners = new Set<() => void>();

  constructor(private nextSeq: bigint) {}

  /** Seq the next record will get; persisted with every group that adds records. */
  get sequence(): bigint {
    return this.nextSeq;
  }

  get depth(): number {
    return this.records.size;
  }

  /** Restores a persisted record at open (ascending seq). */
  restore(seq: bigint, change: StoreChange): void {
    const record = { seq, change };
    this.records.set(seq, record);
    this.order.push(seq);
    if (change.kind === 'entry') this.latestByKey.set(keyId(change.shard, change.key), record);
    if (seq >= this.nextSeq) this.nextSeq = seq + 1n;
  }

  /** Adds a change to the commit group being built; returns the persistence ops for it. */
  stage(change: StoreChange, ops: PersistOp[], trace?: string): void {
    let staged = change;
    if (change.kind === 'entry') {
      const id = keyId(change.shard, change.key);
      const prior = this.latestByKey.get(id);
      if (prior && prior.change.kind === 'entry') {
        staged = { ...change, entry: merge(prior.change.entry, change.entry) };
        if (this.records.has(prior.seq)) this.stagedRemovals.push(prior.seq);
        else this.supersededInGroup.add(prior);
        ops.push({ type: 'outbox-del', seq: prior.seq });
      }
      const record = { seq: this.nextSeq++, change: staged, trace };
      this.latestByKey.set(id, record);
      this.stagedAdds.push(record);
      ops.push({ type: 'outbox-put', seq: record.seq, value: encodeOutboxChange(staged) });
      return;
    }
    const record = { seq: this.nextSeq++, change, trace };
    this.stagedAdds.push(record);
    ops.push({ type: 'outbox-put', seq: record.seq, value: encodeOutboxChange(change) });
  }

  get hasStaged(): boolean {
    return this.stagedAdds.length > 0;
  }

  commit(): void {
    if (this.stagedAdds.length === 0) return;
    for (const seq of this.stagedRemovals) this.records.delete(seq);
    for (const record of this.stagedAdds) {
      if (this.supersededInGroup.has(record)) continue;
      this.records.set(record.seq, record);
      this.order.push(record.seq);
    }
    this.stagedAdds = [];
    this.stagedRemovals = [];
    this.supersededInGroup.clear();
    this.compact();
    for (const listener of this.listeners) listener();
  }

  discard(): void {
    this.stagedAdds = [];
    this.stagedRemovals = [];
    this.supersededInGroup.clear();
    this.latestByKey.clear();
    for (const record of this.records.values()) {
      if (record.change.kind === 'entry') this.latestByKey.set(keyId(record.change.shard, record.change.key), record);
    }
  }

  /** Committed records with seq > `afterSeq`, oldest first, at most `limit`. */
  read(afterSeq: bigint, limit: number): OutboxRecord[] {
    const out: OutboxRecord[] = [];
    for (let i = firstAbove(this.order, afterSeq); i < this.order.length && out.length < limit; i++) {
      const record = this.records.get(this.order[i]!);
      if (record) out.push(record);
    }
    return out;
  }

  /** Forgets acknowledged records; returns the persistence ops that delete them. */
  remove(seqs: readonly bigint[]): PersistOp[] {
    const ops: PersistOp[] = [];
    for (const seq of seqs) {
      const record = this.records.get(seq);
      if (!record) continue;
      this.records.delete(seq);
      ops.push({ type: 'outbox-del', seq });
      if (record.change.kind === 'entry') {
        const id = keyId(record.change.shard, record.change.key);
        if (this.latestByKey.get(id) === record) this.latestByKey.delete(id);
      }
    }
    this.compact();
    return ops;
  }

  /** Drops removed seqs from `order` once they are most of it (coalescing and acks both remove). */
  private compact(): void {
    if (this.order.length > 1024 && this.records.size < this.order.length / 2) {
      this.order = this.order.filter((seq) => this.records.has(seq));
    }
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

const keyId = (shard: number, key: string): string => `${shard}\u0000${key}`;

/** Index of the first seq above `seq` in an ascending array. */
function firstAbove(order: readonly bigint[], seq: bigint): number {
  let lo = 0;
  let hi = order.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (order[mid]! <= seq) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const ENTRY_CHANGE = 1;
const TRUNCATE_CHANGE = 2;

/** Disk format of an outbox record: kind u8, shard u16, then key and entry, or the floor stamp. */
export function encodeOutboxChange(change: StoreChange): Uint8Array {
  if (change.kind === 'entry') {
    const key = Buffer.from(change.key, 'utf8');
    const head = Buffer.allocUnsafe(7);
    head[0] = ENTRY_CHANGE;
    head.writeUInt16BE(change.shard, 1);
    head.writeUInt32BE(key.length, 3);
    return Buffer.concat([head, key, encodeEntry(change.entry)]);
  }
  const head = Buffer.allocUnsafe(3);
  head[0] = TRUNCATE_CHANGE;
  head.writeUInt16BE(change.shard, 1);
  return Buffer.concat([head, encodeStamp(change.floor)]);
}

export function decodeOutboxChange(bytes: Uint8Array): StoreChange {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 3) throw new RangeError('outbox record too short');
  const shard = buf.readUInt16BE(1);
  if (buf[0] === ENTRY_CHANGE) {
    const keyLength = buf.readUInt32BE(3);
    const key = buf.toString('utf8', 7, 7 + keyLength);
    return { kind: 'entry', shard, key, entry: decodeEntry(buf.subarray(7 + keyLength)) };
  }
  if (buf[0] === TRUNCATE_CHANGE) {
    return { kind: 'truncate', shard, floor: decodeStamp(buf, 3) };
  }
  throw new RangeError(`unknown outbox record kind ${buf[0]}`);
}
