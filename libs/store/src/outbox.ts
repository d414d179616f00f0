import { decodeEntry, encodeEntry, type Entry, type Hlc, merge, type Stamp } from '#crdt';
import { type LoadedOutboxRecord, type OutboxSpan, type PersistOp } from './engine.js';
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
  /**
   * The clock of the latest write behind it (memory only: a record restored at open has none). A
   * counter's or set's stamp is its epoch, not its write: only this tells how old the change is.
   */
  readonly written?: Hlc;
}

/** Where the records that do not fit in memory wait: the store's engine. */
export interface OutboxStorage {
  /** Stored records with seq above `afterSeq` (all when undefined), ascending, at most `limit`. */
  records(afterSeq: bigint | undefined, limit: number): LoadedOutboxRecord[];
  span(): OutboxSpan;
  /** A stored record that does not decode: it is skipped. */
  onCorrupt?(seq: bigint, error: unknown): void;
}

/** Records the outbox keeps in memory at most: the oldest ones, which the publisher reads next. */
export const OUTBOX_WINDOW_RECORDS = 16_384;

/**
 * The outbox: local changes committed together with the mutation that made them, kept until
 * the replicator has them acknowledged by NATS. It lives in the store's write batches (so a
 * change is never acknowledged to a client without its outbox record); the oldest records,
 * which the publisher reads next, are also in memory.
 *
 * Changes are CRDT states, and a later state of a key subsumes an earlier one (merge is a join),
 * so while a key's change waits unsent in memory, a new change of that key replaces it with
 * their merge under a new seq.
 *
 * Memory holds a window of at most {@link OUTBOX_WINDOW_RECORDS} records, always the lowest
 * seqs: once it is full (NATS away, or slower than the writes), later records are only stored
 * ("spilled"), and as acknowledgements empty the window it is refilled from storage in seq
 * order. A long outage therefore costs disk, not memory, and an open reads one window. A
 * spilled record is not coalesced with later changes of its key: the publisher sends both,
 * and receivers merge them.
 */
export class Outbox {
  /** Committed records in memory by seq; `order` lists seqs ascending and may hold removed ones. */
  private readonly records = new Map<bigint, OutboxRecord>();
  private order: bigint[] = [];
  /** The unsent record of each shard/key, committed or staged in the current group. */
  private readonly latestByKey = new Map<string, OutboxRecord>();
  private stagedAdds: OutboxRecord[] = [];
  /** Records of this group replaced by a later change of their key in the same group. */
  private readonly supersededInGroup = new Set<OutboxRecord>();
  private stagedRemovals: bigint[] = [];
  private readonly listeners = new Set<() => void>();
  /** Committed records that are only stored; all of them have seqs above every one in memory. */
  private spilled = 0;
  /** While records are spilled: they all follow this seq (undefined: from the first stored one). */
  private spilledAfter: bigint | undefined;
  /** The highest committed seq: a refill reads no further (a batch being written is not committed). */
  private committedSeq = -1n;

  constructor(
    private nextSeq: bigint,
    private readonly storage: OutboxStorage,
    private readonly windowRecords = OUTBOX_WINDOW_RECORDS,
  ) {}

  /** Seq the next record will get; persisted with every group that adds records. */
  get sequence(): bigint {
    return this.nextSeq;
  }

  /** Unsent records, in memory and spilled. */
  get depth(): number {
    return this.records.size + this.spilled;
  }

  /**
   * Reads a window of the stored records at open, and counts the rest. Every stored record is
   * committed, and new ones follow the highest stored seq even if the persisted sequence lags it.
   */
  restore(): void {
    const { count, lastSeq } = this.storage.span();
    if (lastSeq !== undefined && lastSeq >= this.nextSeq) this.nextSeq = lastSeq + 1n;
    this.spilled = count;
    this.spilledAfter = undefined;
    this.committedSeq = this.nextSeq - 1n;
    this.refill();
  }

  /** Moves the oldest spilled records into memory, up to the window; true when it moved any. */
  private refill(): boolean {
    if (this.spilled === 0) return false;
    const limit = this.windowRecords - this.records.size;
    const loaded = this.storage.records(this.spilledAfter, limit);
    let exhausted = loaded.length < limit;
    let added = 0;
    for (const { seq, value } of loaded) {
      if (seq > this.committedSeq) {
        // A batch being written: its records join memory or spill when it commits.
        exhausted = true;
        break;
      }
      this.spilledAfter = seq;
      this.spilled--;
      let change: StoreChange;
      try {
        change = decodeOutboxChange(value);
      } catch (err) {
        this.storage.onCorrupt?.(seq, err);
        continue;
      }
      const record = { seq, change };
      this.records.set(seq, record);
      this.order.push(seq);
      // Newer than every record in memory: the key's latest unsent state.
      if (change.kind === 'entry') this.latestByKey.set(keyId(change.shard, change.key), record);
      added++;
    }
    if (exhausted) this.spilled = 0;
    return added > 0;
  }

  /** Adds a change to the commit group being built; returns the persistence ops for it. */
  stage(change: StoreChange, ops: PersistOp[], written: Hlc, trace?: string): void {
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
      const record = { seq: this.nextSeq++, change: staged, written, trace };
      this.latestByKey.set(id, record);
      this.stagedAdds.push(record);
      ops.push({ type: 'outbox-put', seq: record.seq, value: encodeOutboxChange(staged) });
      return;
    }
    const record = { seq: this.nextSeq++, change, written, trace };
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
      this.committedSeq = record.seq;
      if (this.spilled === 0 && this.records.size < this.windowRecords) {
        this.records.set(record.seq, record);
        this.order.push(record.seq);
        continue;
      }
      if (this.spilled === 0) this.spilledAfter = record.seq - 1n;
      this.spilled++;
      if (record.change.kind === 'entry') {
        const id = keyId(record.change.shard, record.change.key);
        if (this.latestByKey.get(id) === record) this.latestByKey.delete(id);
      }
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

  /**
   * Forgets acknowledged records; returns the persistence ops that delete them. Once the window
   * is half empty, spilled records come back into it (and the publisher hears of them).
   */
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
    if (this.records.size <= this.windowRecords / 2 && this.refill()) {
      for (const listener of this.listeners) listener();
    }
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
