/*
 * Test support: in-memory implementations of our own ports (never of NATS), records, and a
 * polling helper. Not part of the library's public surface.
 */
import { type Entry, type Stamp, assign } from '#crdt';
import { type ChangeRecord, type ChangeSink, type ChangeSource } from '../ports.js';

/** An outbox in memory: seqs from 1, acknowledgements checked to come in seq order. */
export class FakeOutbox implements ChangeSource {
  readonly #records = new Map<bigint, ChangeRecord>();
  readonly #listeners = new Set<() => void>();
  #nextSeq = 1n;
  #lastAcknowledged = 0n;
  /** Every acknowledge() batch, in call order. */
  readonly batches: bigint[][] = [];
  /** Set to make the next acknowledge() calls fail. */
  failAcknowledge = 0;
  /** Acknowledgements out of seq order (must stay 0). */
  outOfOrder = 0;

  constructor(readonly origin: string) {}

  append(make: (seq: bigint) => ChangeRecord): ChangeRecord {
    const record = make(this.#nextSeq);
    this.#nextSeq += 1n;
    this.#records.set(record.seq, record);
    for (const l of this.#listeners) l();
    return record;
  }

  /** Appends a register SET of `key` = `value`. */
  set(key: string, value: string, shard = 0): ChangeRecord {
    return this.append((seq) => entryChange(this.origin, seq, shard, key, value));
  }

  read(afterSeq: bigint, limit: number): readonly ChangeRecord[] {
    const out: ChangeRecord[] = [];
    for (const [seq, r] of this.#records) {
      if (seq > afterSeq) out.push(r);
      if (out.length >= limit) break;
    }
    return out;
  }

  async acknowledge(seqs: readonly bigint[]): Promise<void> {
    await Promise.resolve();
    if (this.failAcknowledge > 0) {
      this.failAcknowledge -= 1;
      throw new Error('simulated storage failure');
    }
    this.batches.push([...seqs]);
    for (const seq of seqs) {
      if (seq <= this.#lastAcknowledged) this.outOfOrder += 1;
      this.#lastAcknowledged = seq;
      this.#records.delete(seq);
    }
  }

  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get depth(): number {
    return this.#records.size;
  }
}

/** A sink that remembers what it merged, idempotently, by `origin:seq`. */
export class RecordingSink implements ChangeSink {
  readonly changes = new Map<string, ChangeRecord>();
  /** apply() calls for a change already held. */
  duplicates = 0;
  /** When set and returning true for a record, apply() rejects. */
  fail: ((record: ChangeRecord) => boolean) | undefined;
  /** Merges running right now, and the most at once. */
  running = 0;
  maxRunning = 0;
  /** The id of every apply() call, in call order, duplicates included. */
  readonly order: string[] = [];

  constructor(readonly delayMs = 0) {}

  async apply(change: ChangeRecord): Promise<void> {
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const id = changeId(change);
    this.order.push(id);
    try {
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      else await Promise.resolve();
      if (this.fail?.(change) === true) throw new Error('simulated merge failure');
      if (this.changes.has(id)) this.duplicates += 1;
      this.changes.set(id, change);
    } finally {
      this.running -= 1;
    }
  }

  /** Every apply() call, duplicates included. */
  get calls(): number {
    return this.order.length;
  }

  ids(): string[] {
    return [...this.changes.keys()].sort();
  }
}

export const changeId = (r: ChangeRecord): string => `${r.origin}:${r.seq}`;

const utf8 = new TextEncoder();

export function stampOf(node: string, wall = Date.now()): Stamp {
  return { hlc: { wall, logical: 0 }, node };
}

export function registerEntry(node: string, value: string, wall?: number): Entry {
  return assign(undefined, utf8.encode(value), stampOf(node, wall)).entry;
}

export function entryChange(origin: string, seq: bigint, shard: number, key: string, value: string): ChangeRecord {
  return { kind: 'entry', origin, seq, shard, key, entry: registerEntry(origin, value) };
}

/** An array of 0..n-1. */
export const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
