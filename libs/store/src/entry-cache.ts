import { type Entry } from '#crdt';

/** Rough heap cost of a cached entry beyond its key and value bytes: map slot, entry object, buffer header. */
const ENTRY_OVERHEAD_BYTES = 160;

/**
 * Decoded entries of recently read or written keys, bounded by an estimate of their heap bytes.
 * Two generations instead of an exact LRU list: entries go into the young map; a hit in the old
 * one moves the entry back to the young; when the young map holds half the capacity it becomes
 * the old one and the old one is dropped whole. Every operation is a few hash-map steps (an
 * exact LRU over a Map deletes its oldest key on every insert, and a fill spent half its time
 * there), and whatever was used within the last half-capacity of insertions stays.
 *
 * It holds committed state only: the commit loop puts what it made durable, and a read fills it
 * from the engine, so whatever it returns is what the engine holds.
 */
export class EntryCache {
  private young = new Map<string, Entry>();
  private old = new Map<string, Entry>();
  private youngBytes = 0;
  private oldBytes = 0;

  constructor(private readonly capacityBytes: number) {}

  get sizeBytes(): number {
    return this.youngBytes + this.oldBytes;
  }

  get(key: string): Entry | undefined {
    const young = this.young.get(key);
    if (young !== undefined) return young;
    const old = this.old.get(key);
    if (old !== undefined) {
      this.old.delete(key);
      this.oldBytes -= cost(key, old);
      this.addYoung(key, old);
    }
    return old;
  }

  set(key: string, entry: Entry): void {
    if (this.capacityBytes === 0) return;
    this.delete(key);
    this.addYoung(key, entry);
  }

  delete(key: string): void {
    const young = this.young.get(key);
    if (young !== undefined) {
      this.young.delete(key);
      this.youngBytes -= cost(key, young);
    }
    const old = this.old.get(key);
    if (old !== undefined) {
      this.old.delete(key);
      this.oldBytes -= cost(key, old);
    }
  }

  /** Drops every entry (memory pressure): later reads go to the engine and refill it. */
  clear(): void {
    this.young = new Map();
    this.old = new Map();
    this.youngBytes = 0;
    this.oldBytes = 0;
  }

  private addYoung(key: string, entry: Entry): void {
    this.young.set(key, entry);
    this.youngBytes += cost(key, entry);
    if (this.youngBytes > this.capacityBytes / 2) {
      this.old = this.young;
      this.oldBytes = this.youngBytes;
      this.young = new Map();
      this.youngBytes = 0;
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
