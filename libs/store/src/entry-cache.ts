import { type Entry } from '#crdt';

/** Rough heap cost of a cached entry beyond its key and value bytes: map slot, entry object, buffer header. */
const ENTRY_OVERHEAD_BYTES = 160;

/**
 * Decoded entries of recently read or written keys, bounded by an estimate of their heap bytes
 * and evicted least recently used first (a Map keeps insertion order; a hit moves its key to the
 * end). It holds committed state only: the commit loop puts what it made durable, and a read
 * fills it from the engine, so whatever it returns is what the engine holds.
 */
export class EntryCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  constructor(private readonly capacityBytes: number) {}

  get sizeBytes(): number {
    return this.bytes;
  }

  get(key: string): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, entry: Entry): void {
    if (this.capacityBytes === 0) return;
    this.delete(key);
    this.entries.set(key, entry);
    this.bytes += cost(key, entry);
    if (this.bytes > this.capacityBytes) this.evict();
  }

  delete(key: string): void {
    const prev = this.entries.get(key);
    if (prev === undefined) return;
    this.entries.delete(key);
    this.bytes -= cost(key, prev);
  }

  /** Drops every cached key that `doomed` selects (a truncated shard's keys). */
  deleteWhere(doomed: (key: string, entry: Entry) => boolean): void {
    for (const [key, entry] of this.entries) if (doomed(key, entry)) this.delete(key);
  }

  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.capacityBytes) return;
      this.delete(key);
    }
  }
}

function cost(key: string, entry: Entry): number {
  const base = ENTRY_OVERHEAD_BYTES + 2 * key.length;
  switch (entry.type) {
    case 'register':
      return base + entry.value.length;
    case 'counter':
      return base + 48 * (entry.inc.size + entry.dec.size);
    case 'set':
      return base + 64 * entry.elements.size;
    default:
      return base;
  }
}
