/**
 * Online backups: the frames of a backup stream, read from one consistent view of a running
 * store's engine ({@link StorageEngine.snapshot}), and their push-fed decoder.
 *
 * A backup is logical: each entry's stored record (value and CRDT metadata: stamp, counter
 * components, set tags, tombstone) and each shard's truncation floor, not RocksDB's files. The
 * binding offers no checkpoint; a RocksDB iterator is a point-in-time view of the whole database,
 * so one iterator over the entries and the metadata is a consistent cut across shards (an MSET
 * is in it whole or not at all) while the node keeps writing. A restore merges the entries into
 * an empty store (the join replication uses), which rebuilds the trees and counts; the frames
 * carry no tree, outbox or graveyard record.
 *
 *   frame   = tag:u8 length:u32 payload
 *   'H'     JSON {@link BackupHeader}                            first
 *   'E'     shard:u16 keyLength:u32 key:utf8 record              one per stored entry
 *   'F'     shard:u16 stamp                                      a shard's truncation floor
 *   'Z'     JSON {"entries": n}                                  last: the stream is complete
 */
import { decodeEntry, type Entry, entryDigest, type Stamp, ZERO_STAMP } from '#crdt';
import { MerkleSearchTree, toHex } from '#mst';
import { type StorageEngine } from './engine.js';
import { StoreError } from './errors.js';
import { survives } from './shard.js';
import { decodeStamp } from './stamp-codec.js';

export interface BackupHeader {
  /** Version of the frame format. */
  readonly format: 1;
  readonly nodeId: string;
  readonly shards: number;
  /** When the view was taken (ms since the epoch, the node's clock). */
  readonly takenAt: number;
  /** Live keys when the view was taken: what a progress bar counts towards (tombstones come on top). */
  readonly liveKeys: number;
}

export type BackupFrame =
  | { readonly kind: 'header'; readonly header: BackupHeader }
  | { readonly kind: 'entry'; readonly shard: number; readonly key: string; readonly record: Uint8Array }
  | { readonly kind: 'floor'; readonly shard: number; readonly floor: Stamp }
  | { readonly kind: 'end'; readonly entries: number };

const HEADER = 0x48;
const ENTRY = 0x45;
const FLOOR = 0x46;
const END = 0x5a;
const FRAME_HEAD = 5;
/** Largest payload accepted: a key and a value at their limits, with room. */
const MAX_PAYLOAD = 64 * 1024 * 1024;
const FLOOR_META = /^floor\/(\d+)$/;

function frame(tag: number, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(FRAME_HEAD + payload.length);
  out[0] = tag;
  out.writeUInt32BE(payload.length, 1);
  out.set(payload, FRAME_HEAD);
  return out;
}

function entryFrame(shard: number, key: string, record: Uint8Array): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const payload = Buffer.allocUnsafe(6 + keyBytes.length + record.length);
  payload.writeUInt16BE(shard, 0);
  payload.writeUInt32BE(keyBytes.length, 2);
  keyBytes.copy(payload, 6);
  payload.set(record, 6 + keyBytes.length);
  return frame(ENTRY, payload);
}

function floorFrame(shard: number, floor: Uint8Array): Buffer {
  const payload = Buffer.allocUnsafe(2 + floor.length);
  payload.writeUInt16BE(shard, 0);
  payload.set(floor, 2);
  return frame(FLOOR, payload);
}

const jsonFrame = (tag: number, value: object): Buffer => frame(tag, Buffer.from(JSON.stringify(value), 'utf8'));

/**
 * A backup's frames, header first and the end frame last, read lazily from one view of the
 * engine taken at the first entry: iterate to the end (or return) to release it.
 */
export function* backupFrames(engine: StorageEngine, header: Omit<BackupHeader, 'format'>): Generator<Buffer, void, undefined> {
  yield jsonFrame(HEADER, { format: 1, ...header });
  let entries = 0;
  for (const record of engine.snapshot()) {
    if (record.kind === 'entry') {
      entries++;
      yield entryFrame(record.shard, record.key, record.value);
    } else {
      const floor = FLOOR_META.exec(record.name);
      if (floor) yield floorFrame(Number(floor[1]), record.value);
    }
  }
  yield jsonFrame(END, { entries });
}

/** Cuts a backup stream into frames, however its bytes are chunked. Throws StoreError on a malformed stream. */
export class BackupDecoder {
  #pending: Buffer = Buffer.alloc(0);
  #ended = false;
  #sawHeader = false;

  /** The frames completed by `chunk`. */
  push(chunk: Uint8Array): BackupFrame[] {
    this.#pending = this.#pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#pending, chunk]);
    const frames: BackupFrame[] = [];
    let at = 0;
    while (this.#pending.length - at >= FRAME_HEAD) {
      const length = this.#pending.readUInt32BE(at + 1);
      if (length > MAX_PAYLOAD) throw malformed(`a frame of ${length} bytes`);
      if (this.#pending.length - at < FRAME_HEAD + length) break;
      frames.push(this.#decode(this.#pending[at]!, this.#pending.subarray(at + FRAME_HEAD, at + FRAME_HEAD + length)));
      at += FRAME_HEAD + length;
    }
    this.#pending = this.#pending.subarray(at);
    return frames;
  }

  /** Throws unless the stream ended with its end frame: a backup cut short is not a backup. */
  finish(): void {
    if (!this.#ended || this.#pending.length > 0) throw malformed('the stream ended before its end frame (the backup is incomplete)');
  }

  #decode(tag: number, payload: Buffer): BackupFrame {
    if (this.#ended) throw malformed('data after the end frame');
    if (!this.#sawHeader && tag !== HEADER) throw malformed('no header');
    switch (tag) {
      case HEADER: {
        const header = JSON.parse(payload.toString('utf8')) as BackupHeader;
        if (header.format !== 1) throw malformed(`frame format ${String(header.format)}, this release reads 1`);
        this.#sawHeader = true;
        return { kind: 'header', header };
      }
      case ENTRY: {
        const keyLength = payload.readUInt32BE(2);
        // A copy: the record outlives the chunk it arrived in.
        return { kind: 'entry', shard: payload.readUInt16BE(0), key: payload.toString('utf8', 6, 6 + keyLength), record: Uint8Array.prototype.slice.call(payload, 6 + keyLength) };
      }
      case FLOOR:
        return { kind: 'floor', shard: payload.readUInt16BE(0), floor: decodeStamp(payload, 2) };
      case END:
        this.#ended = true;
        return { kind: 'end', entries: (JSON.parse(payload.toString('utf8')) as { entries: number }).entries };
      default:
        throw malformed(`unknown frame tag 0x${tag.toString(16)}`);
    }
  }
}

function malformed(what: string): StoreError {
  return new StoreError('BACKUP', `not a MerkleKV backup stream: ${what}`);
}

/**
 * Each shard's Merkle Search Tree root over a backup's entries, as a store holding exactly them
 * would have it: what a restore is checked against. Holds every key and digest until the end.
 */
export class BackupRoots {
  readonly #keys: Uint8Array[][] = [];
  readonly #digests: Uint8Array[][] = [];
  readonly #entries: [shard: number, key: Uint8Array, entry: Entry][] = [];
  readonly #floors = new Map<number, Stamp>();
  #corrupt = 0;

  /** Records not decodable (they are left out, as a node reads them as absent). */
  get corrupt(): number {
    return this.#corrupt;
  }

  add(frame: BackupFrame): void {
    if (frame.kind === 'floor') this.#floors.set(frame.shard, frame.floor);
    if (frame.kind !== 'entry') return;
    try {
      this.#entries.push([frame.shard, Buffer.from(frame.key, 'utf8'), decodeEntry(frame.record)]);
    } catch {
      this.#corrupt++;
    }
  }

  /** Hex roots of shards 0 to `shards` - 1. */
  roots(shards: number): string[] {
    for (let shard = 0; shard < shards; shard++) {
      this.#keys.push([]);
      this.#digests.push([]);
    }
    for (const [shard, key, entry] of this.#entries) {
      if (!survives(entry, this.#floors.get(shard) ?? ZERO_STAMP)) continue;
      this.#keys[shard]?.push(key);
      this.#digests[shard]?.push(entryDigest(entry));
    }
    return this.#keys.map((keys, shard) => toHex(MerkleSearchTree.fromSorted(keys, this.#digests[shard]!).root()));
  }
}
