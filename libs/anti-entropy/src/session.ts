/**
 * # Anti-entropy sessions
 *
 * One session repairs every difference between this replica and one peer, in both directions,
 * over any request/reply transport (NATS request/reply between nodes, the `AE` command of the
 * MerkleKV text protocol for `SYNC host port`). The initiator drives; the responder
 * (responder.ts) only answers, from copy-on-write snapshots of its trees, and keeps no session
 * state beyond them.
 *
 * ## What must cross the link, and what this costs on top
 *
 * The floor is the differing records themselves, each once, toward the side it wins on. On top
 * of that any protocol must say WHICH keys differ: for d differences among n keys that is at
 * least about d · log2(n / d) bits, a few bytes a difference. Version 1 of this protocol (kept,
 * below) walked the peer's Merkle Search Tree node by node: every node on the path to a
 * difference crossed whole, ~16 full keys and 32-byte digests, ~2 KB a scattered difference and
 * a round trip per tree level (7 round trips, 20 MB for 10k differences among 1M keys). Version 2
 * sends instead fingerprints of key ranges and, for the ranges that differ, an invertible Bloom
 * lookup table (sketch.ts) of their entries, from which the initiator peels the differing keys
 * themselves: ~80 bytes a difference all told, in three round trips. Version 3 cuts the ranges
 * that differ further, by subtree hashes the trees already hold, so that the sketches read a
 * quarter of the keys where version 2 read three quarters (see "Pieces" below). Version 4 lets
 * the responder put off work that would keep a reply waiting too long (see "Large nodes").
 *
 * ## The exchange (version 2)
 *
 * 1. Hello (round trip 1): the initiator sends every shard's root, truncation floor and a random
 *    32-bit salt for the session's fingerprints (16 shards: ~540 bytes). The responder applies
 *    floors above its own and answers one flag byte per shard; for a shard whose root differs,
 *    its root and its "top": the keys of its highest layers (the root's, or down to the first
 *    layer that holds 8 keys or more), which cut the shard into ~10-20 ranges, with a 6-byte
 *    fingerprint of each (a salted hash of the range's canonical subtree hash,
 *    #mst ranges.ts: O(height) from cached hashes, however many keys the range holds). With no
 *    divergence the session is this one round trip.
 * 2. Sketch (round trip 2), every differing shard in one message: the initiator compares the top
 *    fingerprints with its own of the same ranges; each range that differs is cut along the
 *    initiator's keys of one layer (ranges of ~16^L keys, L the lowest layer that still cuts the
 *    shard into 32 or more ranges: 256 keys at 62k keys a shard, 4,096 at 625k), and those
 *    ranges go with their fingerprints in one `sketch` op. The responder finds which of them
 *    differ, and from their share p estimates the differences they hold: the ranges are gaps
 *    between keys of one layer, geometric in size, so a range is equal with probability
 *    1 / (1 + λ) for λ differences a range, and λ = p / (1 - p) (reconcile.ts). It answers a
 *    bitmap of the differing ranges and a sketch of their entries sized for 2.4 items a key of
 *    that estimate (a key held differently is two items; the estimate is off by ~10%): 1.4
 *    cells an item plus a small floor, 13 bytes a cell. An item is (range index 12 bits | key fingerprint 28 | version fingerprint 24),
 *    salted; the version fingerprint hashes the entry digest, which stays opaque here.
 *    Pieces (v3): where at least half of a shard's top ranges differ (so most of the ranges cut
 *    below will too), each range also goes with the 4-byte fingerprints of its "pieces": the
 *    range cut again by the initiator's keys one layer lower (~16 pieces of ~16 keys at 1M
 *    keys), a piece being its first key and the subtree hanging after it, fingerprinted from
 *    that subtree's cached node hash (#mst pieceFingerprints: no entry below that layer is
 *    read). The responder cuts the differing ranges of its own tree the same way; where it gets
 *    as many pieces it answers a bitmap of the differing ones, else (a key of that layer held on
 *    one side only) the whole range is sketched. Both sides then sketch only the differing
 *    pieces, and the responder estimates the differences from the share of differing pieces
 *    (not saturated, unlike the ranges' share at 1%). Ranges are then cut on layer 2 at least,
 *    so pieces never shrink to single keys.
 * 3. Repair (round trip 3): the initiator builds its own sketch of the same ranges, subtracts,
 *    and peels: items only the peer has, items only we have (the keys of ours are read from the
 *    entries our sketch kept, views into the snapshot, without a second scan while they stay
 *    under KEPT_ENTRIES). A key fingerprint on both sides is a
 *    key both hold differently: fetched by name with our version, and the peer answers with its
 *    entry where ours does not win and asks for ours where its does not (both to join); ours
 *    alone, a key the peer lacks: pushed; theirs alone, a key we lack: a `resolve` op names its
 *    range and fingerprint and the peer answers with the entries. Each shard's repair ends with
 *    a `verify` op in the same message, which the peer runs after the pushes before it: its root.
 *    Once our merges are in, equal roots (full SHA-256) close the shard.
 *
 * Where our version wins on a key both hold, pushing it takes a fourth round trip. A sketch too
 * small to peel (an estimate too low: differences bunched in a few ranges, or a dense shard) is
 * asked again in the next round trip, sized from the failed table (its share of empty cells) or,
 * when it is full, from the item counts of both sides (an upper bound); after 2 retries the
 * shard waits for the next pass. A shard whose roots still differ after its repair (writes during
 * the session, or a collision: two ranges with equal 6-byte fingerprints, two items with equal
 * 64-bit items) gets a second pass of the whole exchange with a new salt: a collision costs round
 * trips, never a difference left unrepaired and reported as repaired. Fingerprints are salted
 * per session so that no collision, chosen by whoever picks keys or not, repeats.
 *
 * A shard we hold nothing of (a new or wiped node) skips all this: it streams the peer's entries
 * in key order, a bounded batch per message, with a cursor. A shard the peer holds nothing of is
 * pushed whole.
 *
 * ## Cost model, and the bound it reaches
 *
 * For d scattered differences among n keys in s shards, with the ranges of step 2 holding r
 * keys (r ~ n / (32 s) up to 16 times that):
 *
 *     bytes ≈ records + 560 (hello) + s · 16 · 31 (tops)
 *             + (ranges cut) · 31 (the keys and fingerprints of step 2)
 *             + (pieces) · 4 + (ranges differing) · ~3 (v3: at most n / 16 pieces, and their bitmaps)
 *             + 2.8 d · 13 + s · 420 (sketches) + d · ~40 (fetch names and versions, or resolves)
 *     round trips = 3 (+1 where we win a key both hold, +1 per sketch retry, x2 for a second pass)
 *
 * The ranges cut are those of the differing top ranges: all of them once d exceeds ~16 s (every
 * top range holds a difference), so at most n / r ~ 32 s to 512 s ranges. The session's memory is
 * the sketches and the ops of one round: entries are streamed from the snapshots (scanRange),
 * never collected. Between two RocksDB nodes (`npm run bench:capacity`, phase 6, 1% of the keys
 * differing), version 3 converged in 9.5 s at 2M keys and 33.5 s at 5M, and at 20M a request
 * went unanswered past the 15 s timeout: from ~8M keys (16 shards: a top of layer 4, ranges cut
 * on layer 3) the pieces are subtrees of ~256 keys, nearly all of which hold a difference at 1%,
 * so the sketches read nearly every key, through tree nodes loaded from storage, eight shards to
 * a message. Version 4 (see "Large nodes") converges there: 108 s at 20M keys, both nodes'
 * RSS at most 1.14x what the fill had at 10% (the capacity goal: 1.3x), 73 round trips (most of
 * them the repair's fetches and pushes, ~210 bytes sent a key). Pieces always on layer 1 were tried before refinement (up to
 * MAX_PIECES an op): they fit 1% but cost 0.1% more than they save (10M keys, 0.1%: 3.34 MB
 * beyond the records against 1.26 MB), which refinement avoids by cutting lower only where the
 * pieces mostly differ, for a round trip.
 * CPU, for each side: the fingerprints of the pieces (O(1) each from cached node hashes, no
 * SHA-256), then a read of the entries of the differing pieces, a key hash, a version hash and
 * four cell updates each (~0.12 µs warm here, the walk included; the initiator also keeps each
 * entry's place, to name the keys it peels). A piece of ~16 keys (~32 for the piece a key falls in:
 * sizes are geometric) holds a difference with probability ~1 - 1 / (1 + 32 d / n): a quarter of
 * the keys are read at 1% scattered, where version 2, reading whole ranges of ~256 keys, read
 * three quarters and the initiator read its differing ranges a second time for their names.
 * Then the repair, the same for any protocol: d records encoded, decoded and merged, the changed
 * tree paths copied (the session holds snapshots) and hashed again. The descent of version 1
 * read only the differing paths but sent them whole.
 *
 * Measured (bench/anti-entropy, 1M keys of 24 + 100 bytes, 16 shards, 50 Mbps / 20 ms modelled,
 * both sides' CPU time added, on the shared 2-core build machine at a load average of 7-10, six
 * runs; the 10M row earlier, at 6-8, before the last CPU work):
 *
 *   scenario (1M keys)             differing  round trips  beyond the records  modelled (no CPU)
 *   values changed, scattered        10,000        3           1.00 MB          1.36-1.63 s (0.44 s)
 *   missing on one side              10,000        3           0.84 MB          1.01-1.37 s (0.41 s)
 *   missing on both sides            10,000        3           1.00 MB          1.19-1.60 s (0.44 s)
 *   consecutive keys changed         10,000        4           0.88 MB          0.71-0.94 s (0.44 s)
 *   10 differences                       10        3           17.1 KB          76-89 ms (63 ms)
 *   nothing differs                       0        1            560 B             20 ms
 *   10M keys, 0.1% differing         10,000        3           1.26 MB          3.93 s (0.48 s)
 *
 * (version 1: 6-7 round trips and ~20 MB for the scattered cases, 5-5.5 s modelled; version 2:
 * the same round trips, 0.2 MB less, and 10-30% more CPU in alternated runs.) So the bound
 * reached: 3 round trips for scattered differences, ~100 bytes a difference beyond the records
 * (~40 of them the names and versions of the fetches, which any repair that moves each record
 * once, toward the side it wins on, must send; ~20 the pieces), under 20 KB for 10 differences
 * among 1M keys. Not reached: 1.0 s modelled at 1M keys / 1% on this machine: 0.6-1.2 s of CPU
 * (the CPU is waited for most of the time at that load, and the walks of large trees suffer most
 * from the caches it shares). Of a warm session (values changed), about a third is the repair
 * itself, which any protocol pays (the merges: entry digests, copy-on-write copies of the leaves
 * the session's snapshots share, the rehash of the changed paths), a sixth is garbage collection,
 * a tenth the sketches of both sides, an eighth the pieces and range fingerprints, the rest the
 * messages' encoding and the reads of the fetched keys' versions; where keys are missing on one
 * side, the ranges they cut are read whole, so those cases gain less from the pieces.
 *
 * A negentropy implementation (NIP-77, @nostr-dev-kit/sync, measured in the same run on the same
 * (key, version hash) items) needs three round trips to learn the differing ids of 1M keys, then
 * one more to move the records, and sends 12-21 MB for 10,000 differences without a frame limit
 * (its leaves are lists of 32-byte ids): see the README for its figures beside ours.
 *
 * ## Large nodes (v4)
 *
 * What a sketch op costs each side grows with the keys its ranges hold, and a message carries
 * several: between two 20M-key nodes differing by 1% (pieces of ~256 keys, nearly all holding a
 * difference), a message of eight shards' sketches kept the responder busy past the initiator's
 * 15 s request timeout, and the session failed. Version 4 reads less, and bounds what it reads:
 *
 * - Refined pieces. Where most of the pieces a sketch op compares differ (and they lie on layer 2
 *   or above, holding 2^16 keys or more between them: reconcile.ts refinePays), the responder
 *   answers which differ instead of sketching them ('refine'). The initiator cuts each differing
 *   piece again on the layer below and asks a sketch of those ranges, known to differ, with the
 *   fingerprints of their sub-pieces (4 bytes each); then only the differing sub-pieces are
 *   read. A round trip more for about a third of the keys read instead of nine tenths at 1%
 *   (a difference falls in a large piece more often than in a small one: the pieces read hold
 *   ~2 fanout^(layer - 1) keys a difference). Below ~8M keys (16 shards) the pieces are on
 *   layer 1 already and nothing changes.
 *
 * - A shard's differing top ranges go in parts of at most `maxSketchKeys` keys (2^20, estimated
 *   from the cuts), a sketch op each, so no op reads more than that on either side at once.
 * - The responder works on a batch for at most `maxBatchMs` (1 s) before it starts another
 *   sketch or resolve op; the ones left get a `deferred` result, and the initiator asks them
 *   again in its next round (not counted as a sketch retry). The first op of a batch always
 *   runs, so every round makes progress. A reply then waits on about a second plus one op,
 *   never on a message of them; a version 3 batch is never put off (its sender would not know
 *   to ask again).
 * - The scans load tree nodes from storage, and the store's sweeps, which run after its
 *   checkpoints, reach only the live tree: after each sketch and resolve (and each streamed
 *   batch) both sides give the loaded nodes of the snapshot they read back to the tree cache's
 *   budget (ReplicaStore.trimSnapshot), the nodes only that snapshot still holds included.
 *   And piece fingerprints read no node below their layer (a subtree wholly inside a piece is
 *   hashed from its stub): they read every leaf before, a third of a 2M-key SYNC's time.
 *
 * ## Versions
 *
 * Every message starts with its protocol version; a reply has its request's version. A node
 * answers every version up to its own (ResponderLimits.maxVersion): an older peer that sends a
 * version 1 hello gets version 1 (the node-by-node descent of #mst sync.ts, whose root node rides
 * on the hello, and the same fetch, push and range ops), a version 2 hello gets sketches without
 * pieces, a version 3 batch is answered whole. An initiator whose hello is refused with VERSION (an older release) says hello again
 * one version lower, at the cost of that round trip, and speaks that version for the session.
 * Error replies are always version 1, which every release reads.
 *
 * ## Safety and bounds
 *
 * The responder checks everything it is sent (responder.ts) and hashes nothing on trust; a
 * version 1 descent verifies every summary against the hash it asked for, and a version 2 shard
 * is complete only once full roots match. The session stops with a stable code (AntiEntropyError)
 * when the peer answers an error, when its byte budget is spent (what was merged stays merged:
 * the next session carries on), or when its AbortSignal fires (the coordinator aborts sessions
 * with a peer that membership declares dead). Messages carry only ops whose replies fit one
 * (#replyWeight): the responder cuts a reply at its byte limit, and what it left out is asked
 * again, a round trip more. Tombstones older than the grace period are not transferred to a side
 * that lacks their key: see the rule and why it is safe in tombstones.ts.
 */
import { randomInt } from 'node:crypto';
import { compareStamps, type Entry } from '#crdt';
import {
  compareBytes,
  DiffSession,
  EMPTY_ROOT,
  equalBytes,
  isMstError,
  type KeyDiff,
  keysFromLayer,
  type MerkleSearchTree,
  pieceFingerprints,
  rangeFingerprint,
  type SummaryRequest,
} from '#mst';
import { type ReplicaStore } from '#store';
import {
  decodeReply,
  encodeBatch,
  encodeHello,
  encodeOp,
  type FingerprintSpan,
  type HelloShard,
  MAX_PIECES,
  type Op,
  type OpResult,
  type Pieces,
  PROTOCOL_VERSION,
  type ProtocolVersion,
  type Reply,
  type Span,
  type TopRanges,
} from './codec.js';
import { AntiEntropyError } from './errors.js';
import { type KeyRange, keysWithFingerprints, rangesOf, type ScanPlan, ScannedEntries, scanPlan, sketchCells, sketchRanges, wholeRanges } from './reconcile.js';
import { itemKeyFingerprint, itemRange, MAX_SKETCH_RANGES, type SketchDifference } from './sketch.js';
import { isOldTombstone } from './tombstones.js';

/** Sends one encoded request to the peer; resolves with its encoded reply. */
export type Transport = (request: Uint8Array, signal: AbortSignal) => Promise<Uint8Array>;

export interface SessionLimits {
  /** Requests are packed up to this many bytes (replies are bounded by the responder). Default 512 KiB. */
  readonly maxMessageBytes: number;
  /** Most node references asked in one message, which bounds its reply (~1.5 KB a node). Default 256. */
  readonly maxRefsPerMessage: number;
  /** Messages in flight at once. Default 4. */
  readonly concurrency: number;
  /** Bytes sent and received after which the session sends nothing more (BUDGET); the replies to its last round may overshoot. Default 256 MiB. */
  readonly byteBudget: number;
  /** Sketches asked again, bigger, before a shard is left to the next session. Default 2. */
  readonly sketchRetries: number;
  /** Comparisons of all shards in one session: a shard whose roots still differ after its repair (concurrent writes, a fingerprint collision) gets another, with a new salt. Default 2. */
  readonly passes: number;
  /**
   * Keys one sketch op may cover (estimated from the cuts, ranges of ~fanout^layer keys): a
   * larger shard is compared in parts, so that no op makes either side read more entries than
   * this at once (~1-2 s of a 20M-key node's storage on the build machine). Default 2^20.
   */
  readonly maxSketchKeys: number;
}

export const SESSION_DEFAULTS: SessionLimits = {
  maxMessageBytes: 512 << 10,
  maxRefsPerMessage: 256,
  concurrency: 4,
  byteBudget: 256 << 20,
  sketchRetries: 2,
  passes: 2,
  maxSketchKeys: 1 << 20,
};

export interface SessionOptions {
  readonly store: ReplicaStore;
  readonly transport: Transport;
  readonly signal?: AbortSignal;
  readonly limits?: Partial<SessionLimits>;
  /** Tombstones older than this are not transferred to a side that lacks their key. Default: all are. */
  readonly tombstoneGraceMs?: number;
  readonly now?: () => number;
  /** Told after every message that streamed entries into an empty shard. */
  readonly onProgress?: (progress: SessionProgress) => void;
  /** The newest protocol to speak. Default: the newest this release speaks; a peer that refuses it gets the older one. */
  readonly maxVersion?: ProtocolVersion;
}

export interface SessionProgress {
  /** Entries streamed into empty shards so far in this session. */
  readonly streamed: number;
  /** Shards still streaming. */
  readonly streamingShards: number;
}

/** What a session did; also what it had done when it failed. */
export interface SessionReport {
  /** The peer's node id, once its hello reply arrived. */
  readonly peer: string | undefined;
  readonly startedAt: number;
  readonly durationMs: number;
  /** Sequential waits on the network (the hello included). */
  readonly roundTrips: number;
  readonly requests: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Shards whose roots differed at the hello. */
  readonly shardsDiffering: number;
  /** Keys found different by the descents, plus entries streamed into empty shards. */
  readonly differences: number;
  /** Keys whose local entry changed by a merge. */
  readonly keysPulled: number;
  /** Keys whose entry changed on the peer by a merge. */
  readonly keysPushed: number;
  /** Entries sent to the peer, and received from it: the records that crossed the link. */
  readonly recordsSent: number;
  readonly recordsReceived: number;
  /** Shards compared and repaired completely (the equal ones included). */
  readonly completedShards: readonly number[];
  /** The peer's outbox and backlog were empty at the hello. */
  readonly peerClean: boolean;
  /** The protocol version spoken (the newest both sides speak). */
  readonly protocolVersion: ProtocolVersion;
  /** Null when the session completed. */
  readonly error: AntiEntropyError | null;
}

/** A v2 comparison of one shard, or of a part of a large one, by range sketches. */
interface Reconciliation {
  /** Our tree as the comparison started. */
  readonly tree: MerkleSearchTree;
  /** The peer's tree version its ops name. */
  readonly root: Uint8Array;
  readonly spans: readonly Span[];
  readonly ranges: readonly KeyRange[];
  /** v3: the ranges cut further, when many of them are expected to differ. */
  readonly pieces: Pieces | undefined;
  /** v4: the ranges are pieces the peer found different (see #refine): no fingerprints of their own. */
  readonly known: boolean;
  /** Sketches asked so far; 0 before the first. */
  attempts: number;
  /** Cells of the next sketch (0: the responder sizes it from the ranges that differ). */
  cells: number;
  /** Waiting for a sketch. */
  asked: boolean;
}

interface ShardWork {
  readonly shard: number;
  /** v1: descending the peer's tree. */
  diff: DiffSession | null;
  /** v2: comparing by sketches, a part of the shard each (see #reconcile). */
  recons: Reconciliation[];
  /** v2: a part whose sketches never peeled: the shard is left to the next pass. */
  unpeeled: boolean;
  /** v2: the peer's keys we lack, by fingerprint, to fetch. */
  resolve: FingerprintSpan[];
  /** v2: the peer's root after our repairs; `pending` until its answer is applied. */
  verify: 'no' | 'ask' | 'pending' | 'done' | 'failed';
  /** The peer's root as its hello announced it: the tree version v2 ops name. */
  readonly theirs: Uint8Array;
  /** v2: the root the peer answered a root check with, until compared. */
  peerRoot: Uint8Array | null;
  /** Streaming into an empty shard: the last key received (null before the first). */
  stream: { after: string | null } | null;
  fetch: string[];
  /** Keys to push, with the entry read when they were found (undefined: read it when sending). */
  push: [key: string, entry: Entry | undefined][];
  outstanding: number;
}

/**
 * Runs one session against the peer behind `transport`. Resolves with a report whether or not
 * it completed (`report.error`); never rejects.
 */
export async function runSession(options: SessionOptions): Promise<SessionReport> {
  return new Session(options).run();
}

class Session {
  readonly #store: ReplicaStore;
  readonly #transport: Transport;
  readonly #limits: SessionLimits;
  readonly #signal: AbortSignal;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #onProgress: SessionOptions['onProgress'];
  readonly #startedAt: number;
  #peer: string | undefined;
  #peerClean = false;
  #roundTrips = 0;
  #requests = 0;
  #bytesSent = 0;
  #bytesReceived = 0;
  #shardsDiffering = 0;
  #differences = 0;
  #pulled = 0;
  #pushed = 0;
  #streamed = 0;
  #streaming = 0;
  #recordsSent = 0;
  #recordsReceived = 0;
  #version: ProtocolVersion;
  #salt = 0;
  readonly #completed: number[] = [];

  constructor(options: SessionOptions) {
    this.#store = options.store;
    this.#transport = options.transport;
    this.#limits = { ...SESSION_DEFAULTS, ...options.limits };
    this.#signal = options.signal ?? new AbortController().signal;
    this.#graceMs = options.tombstoneGraceMs ?? Infinity;
    this.#now = options.now ?? Date.now;
    this.#onProgress = options.onProgress;
    this.#version = options.maxVersion ?? PROTOCOL_VERSION;
    this.#startedAt = this.#now();
  }

  async run(): Promise<SessionReport> {
    let error: AntiEntropyError | null = null;
    try {
      for (let pass = 1; pass <= this.#limits.passes; pass++) {
        const work = await this.#greet();
        while (work.some((w) => !this.#finished(w))) await this.#step(work);
        // Another pass only for what a root check found still different (v2 only).
        if (!work.some((w) => w.verify === 'failed')) break;
      }
    } catch (err) {
      error = toSessionError(err);
    }
    return {
      peer: this.#peer,
      startedAt: this.#startedAt,
      durationMs: this.#now() - this.#startedAt,
      roundTrips: this.#roundTrips,
      requests: this.#requests,
      bytesSent: this.#bytesSent,
      bytesReceived: this.#bytesReceived,
      shardsDiffering: this.#shardsDiffering,
      differences: this.#differences,
      keysPulled: this.#pulled,
      keysPushed: this.#pushed,
      recordsSent: this.#recordsSent,
      recordsReceived: this.#recordsReceived,
      completedShards: this.#completed.sort((a, b) => a - b),
      peerClean: this.#peerClean,
      protocolVersion: this.#version,
      error,
    };
  }

  /** The hello in the newest version both sides speak: a peer of an older release refuses ours with VERSION, and gets the one before. */
  async #greet(): Promise<ShardWork[]> {
    for (;;) {
      try {
        return await this.#hello();
      } catch (err) {
        if (!(err instanceof AntiEntropyError && err.code === 'VERSION' && err.remote && this.#version > 1)) throw err;
        this.#version = (this.#version - 1) as ProtocolVersion;
      }
    }
  }

  async #hello(): Promise<ShardWork[]> {
    const store = this.#store;
    const shards = Array.from({ length: store.shardCount }, (_, i) => ({ root: store.shardRoot(i), floor: store.shardFloor(i) }));
    this.#salt = this.#version >= 2 ? randomInt(0, 2 ** 32 - 1) : 0;
    const hello = { kind: 'hello', version: this.#version, node: store.nodeId, fanout: store.shardSnapshot(0).fanout, salt: this.#salt, shards } as const;
    const [reply] = await this.#exchange([encodeHello(hello)]);
    if (reply?.kind !== 'hello') throw new AntiEntropyError('PROTOCOL', 'the peer did not answer the hello with a hello');
    if (reply.version !== this.#version) throw new AntiEntropyError('PROTOCOL', `a version ${this.#version} hello was answered in version ${reply.version}`);
    if (reply.shards.length !== store.shardCount) {
      throw new AntiEntropyError('MISMATCH', `the peer answered for ${reply.shards.length} shards, this node has ${store.shardCount}`);
    }
    this.#peer = reply.node;
    this.#peerClean = reply.clean;
    await Promise.all(reply.shards.map((s, i) => (compareStamps(s.floor, store.shardFloor(i)) > 0 ? store.applyTruncate(i, s.floor) : undefined)));
    const work: ShardWork[] = [];
    reply.shards.forEach((theirs, shard) => {
      if (theirs.root === null) {
        if (!this.#completed.includes(shard)) this.#completed.push(shard);
      } else work.push(this.#startShard(shard, theirs, theirs.root));
    });
    this.#shardsDiffering = Math.max(this.#shardsDiffering, work.length);
    return work;
  }

  #startShard(shard: number, theirs: HelloShard, root: Uint8Array): ShardWork {
    const work: ShardWork = {
      shard,
      diff: null,
      recons: [],
      unpeeled: false,
      resolve: [],
      verify: 'no',
      theirs: root,
      peerRoot: null,
      stream: null,
      fetch: [],
      push: [],
      outstanding: 0,
    };
    const local = this.#store.shardSnapshot(shard);
    if (equalBytes(local.root(), EMPTY_ROOT)) {
      work.stream = { after: null };
      this.#streaming++;
      return work;
    }
    if (theirs.top !== null) {
      work.recons = this.#reconcile(local, root, theirs.top);
      if (work.recons.length === 0) work.verify = 'ask';
      return work;
    }
    // v1, or a peer with nothing in this shard (every key of ours is missing there).
    work.diff = new DiffSession(local, root, { maxBatch: this.#limits.maxRefsPerMessage });
    if (theirs.summary !== null && !work.diff.done) {
      // The peer sent its root node with the hello: answer the descent's first request here.
      const first = work.diff.nextRequest()!;
      work.diff.receive(first, { nodes: [theirs.summary] });
    }
    this.#settleDiff(work);
    return work;
  }

  /**
   * Compares the peer's top ranges with ours; the ranges that differ, each cut along our keys of
   * one layer, go in one sketch op. The layer is the lowest that still cuts the whole shard into
   * at least RANGES_PER_SHARD ranges (of ~fanout^layer keys): enough ranges for the share of
   * differing ones to estimate the differences (estimateDifferences), few enough that the cuts
   * cost a few bytes a key. The differing top ranges go in parts of at most maxSketchKeys keys
   * (estimated from the cuts), one sketch op each, so that no op reads more than that on
   * either side however large the shard. None when no top range differs (the root check then
   * says whether anything does).
   */
  #reconcile(tree: MerkleSearchTree, root: Uint8Array, top: TopRanges): Reconciliation[] {
    const bounds = [null, ...top.keys, null];
    const differing: [Uint8Array | null, Uint8Array | null][] = [];
    for (let i = 0; i <= top.keys.length; i++) {
      if (!equalBytes(rangeFingerprint(tree, bounds[i]!, bounds[i + 1]!, this.#salt), top.fingerprints[i]!)) differing.push([bounds[i]!, bounds[i + 1]!]);
    }
    if (differing.length === 0) return [];
    // Where at least half the top ranges differ, most ranges cut below hold a difference too
    // (a sparse shard shows fewer): each is then cut further into pieces a layer lower (~fanout
    // of them, 4 bytes each, v3), and the sketches read only the differing pieces: a few times
    // fewer entries for ~4 bytes a fanout^(layer - 1) keys. The ranges are then cut on layer 2
    // at least, so that pieces are never single keys.
    const cutPieces = this.#version >= 3 && top.layer >= 2 && 2 * differing.length >= top.keys.length + 1;
    // One sketch names at most MAX_SKETCH_RANGES ranges: cut a layer higher if need be.
    let cutLayer = Math.min(top.layer - 1, Math.floor(Math.log(tree.size / RANGES_PER_SHARD) / Math.log(tree.fanout)));
    if (cutPieces) cutLayer = Math.max(cutLayer, 2);
    for (;;) {
      const cuts = differing.map(([lo, hi]) => (cutLayer >= 1 ? keysFromLayer(tree, cutLayer, lo, hi) : []));
      if (cuts.reduce((n, c) => n + c.length + 1, 0) > MAX_SKETCH_RANGES && cutLayer < top.layer) {
        cutLayer++;
        continue;
      }
      const spans = differing.map(([lo, hi], i): Span => {
        const edges = [lo, ...cuts[i]!, hi];
        return { lo, hi, cuts: cuts[i]!, fingerprints: edges.slice(1).map((end, j) => rangeFingerprint(tree, edges[j]!, end, this.#salt)) };
      });
      const rangeKeys = tree.fanout ** cutLayer;
      const parts: Span[][] = [[]];
      let keys = 0;
      for (const span of spans) {
        const spanKeys = (span.cuts.length + 1) * rangeKeys;
        if (parts.at(-1)!.length > 0 && keys + spanKeys > this.#limits.maxSketchKeys) {
          parts.push([]);
          keys = 0;
        }
        parts.at(-1)!.push(span);
        keys += spanKeys;
      }
      const layer = cutLayer - 1;
      return parts.map((part): Reconciliation => {
        const ranges = rangesOf(part);
        const pieces = cutPieces ? { layer, fingerprints: ranges.map((r) => pieceFingerprints(tree, layer, r.lo, r.hi, this.#salt)) } : undefined;
        return { tree, root, spans: part, ranges, pieces, known: false, attempts: 0, cells: 0, asked: false };
      });
    }
  }

  /**
   * A peeled sketch difference becomes repairs: a key fingerprint on both sides is a key both
   * hold differently (fetched with our version, as in v1), ours alone a key the peer lacks
   * (pushed), theirs alone a key we lack (resolved by its fingerprint and fetched in one op).
   */
  #settleSketch(work: ShardWork, recon: Reconciliation, difference: SketchDifference, scanned: ScannedEntries, plan: ScanPlan): void {
    // A key's identity in the sketch: its range index and key fingerprint (40 bits, exact in a double).
    const id = (range: number, keyFp: number): number => range * 2 ** 28 + keyFp;
    const theirs = new Set(difference.theirs.map(([hi, lo]) => id(itemRange(hi), itemKeyFingerprint(hi, lo))));
    const now = this.#now();
    const ours: string[] = [];
    for (const [name, range, keyFp] of this.#ourKeys(recon, difference.mine, scanned, plan)) {
      this.#differences++;
      if (theirs.delete(id(range, keyFp))) work.fetch.push(name);
      else ours.push(name);
    }
    this.#store.readMany(ours).forEach((entry, i) => {
      if (entry === undefined || !isOldTombstone(entry, now, this.#graceMs)) work.push.push([ours[i]!, entry]);
    });
    const wanted = new Map<number, number[]>();
    for (const key of theirs) {
      const range = Math.floor(key / 2 ** 28);
      const keyFps = wanted.get(range);
      if (keyFps === undefined) wanted.set(range, [key % 2 ** 28]);
      else keyFps.push(key % 2 ** 28);
      this.#differences++;
    }
    for (const [range, keyFingerprints] of wanted) work.resolve.push({ ...recon.ranges[range]!, keyFingerprints });
    this.#partDone(work, recon);
  }

  /** Once its last part is settled, the shard's root check follows its repairs; a part that never peeled leaves it to the next pass. */
  #partDone(work: ShardWork, recon: Reconciliation): void {
    work.recons = work.recons.filter((r) => r !== recon);
    if (work.recons.length === 0) work.verify = work.unpeeled ? 'failed' : 'ask';
  }

  /**
   * The keys of our items a sketch peeled, with their ranges and key fingerprints: from the
   * entries the sketch kept, or a second scan of what it read of their ranges (`plan`).
   */
  #ourKeys(recon: Reconciliation, mine: readonly [number, number][], scanned: ScannedEntries, plan: ScanPlan): [key: string, range: number, keyFp: number][] {
    if (scanned.complete) return scanned.keysOf(mine).map(([key, hi, lo]) => [key, itemRange(hi), itemKeyFingerprint(hi, lo)]);
    const byRange = new Map<number, Set<number>>();
    for (const [hi, lo] of mine) byRange.set(itemRange(hi), (byRange.get(itemRange(hi)) ?? new Set()).add(itemKeyFingerprint(hi, lo)));
    return [...byRange].flatMap(([range, fps]) => {
      const scan = plan.ranges[range];
      const within = typeof scan === 'object' ? { layer: plan.layer, pieces: scan } : undefined;
      return keysWithFingerprints(recon.tree, recon.ranges[range]!, fps, this.#salt, within).map(([key, keyFp]): [string, number, number] => [key, range, keyFp]);
    });
  }

  /** Once a descent is done, its keys become fetches and pushes. */
  #settleDiff(work: ShardWork): void {
    if (work.diff === null || !work.diff.done) return;
    const diff: KeyDiff = work.diff.result();
    work.diff = null;
    const text = (key: Uint8Array): string => Buffer.from(key).toString('utf8');
    const now = this.#now();
    for (const key of diff.localOnly) {
      const name = text(key);
      const entry = this.#store.read(name);
      if (entry !== undefined && isOldTombstone(entry, now, this.#graceMs)) continue;
      work.push.push([name, entry]);
      this.#differences++;
    }
    for (const key of diff.remoteOnly) {
      const name = text(key);
      work.fetch.push(name);
      this.#differences++;
    }
    // Both have these: the fetch carries our version, and the peer answers with its entry or
    // asks for ours, whichever wins (both for a join), so each crosses the link once.
    for (const key of diff.different) {
      work.fetch.push(text(key));
      this.#differences++;
    }
  }

  /** Nothing left to ask or apply. A v2 shard is complete once the roots matched after its repair; v1 trusts the descent. */
  #finished(work: ShardWork): boolean {
    const idle =
      work.diff === null &&
      work.recons.length === 0 &&
      work.stream === null &&
      work.fetch.length === 0 &&
      work.push.length === 0 &&
      work.resolve.length === 0 &&
      work.outstanding === 0;
    const done = idle && (work.verify === 'no' || work.verify === 'done' || work.verify === 'failed');
    if (done && work.verify !== 'failed' && !this.#completed.includes(work.shard)) this.#completed.push(work.shard);
    return done;
  }

  /** One round: every op that can be asked now, packed into messages, sent, applied. */
  async #step(work: readonly ShardWork[]): Promise<void> {
    const groups: Planned[][] = [];
    let ops: Planned[] = [];
    const add = (w: ShardWork, op: Op): void => {
      w.outstanding++;
      ops.push({ op, work: w, bytes: encodeOp(op) });
    };
    for (const w of work) {
      ops = [];
      for (let request = w.diff?.nextRequest(); request; request = w.diff?.nextRequest()) add(w, { op: 'summaries', shard: w.shard, request });
      for (const recon of w.recons) {
        if (recon.asked) continue;
        recon.asked = true;
        recon.attempts++;
        const sketch = { op: 'sketch', shard: w.shard, root: recon.root, salt: this.#salt, cells: recon.cells, spans: recon.spans } as const;
        add(w, recon.pieces === undefined ? sketch : { ...sketch, pieces: recon.pieces, ...(recon.known && { known: true as const }) });
      }
      for (const spans of this.#chunks(w.resolve)) add(w, { op: 'resolve', shard: w.shard, root: w.theirs, salt: this.#salt, spans });
      w.resolve = [];
      if (w.stream !== null && w.outstanding === 0) add(w, { op: 'range', shard: w.shard, after: w.stream.after });
      for (const keys of this.#chunks(w.fetch)) {
        const versions = this.#store.readMany(keys).map((entry) => (entry === undefined ? null : { type: entry.type, stamp: entry.stamp }));
        add(w, { op: 'fetch', shard: w.shard, keys, versions });
      }
      w.fetch = [];
      const unread = w.push.flatMap(([key, found]) => (found === undefined ? [key] : []));
      const read = new Map(this.#store.readMany(unread).map((entry, i) => [unread[i]!, entry]));
      const entries = w.push.flatMap(([key, found]): [string, Entry][] => {
        const entry = found ?? read.get(key);
        return entry === undefined ? [] : [[key, entry]];
      });
      w.push = [];
      this.#recordsSent += entries.length;
      for (const chunk of this.#chunks(entries)) add(w, { op: 'push', shard: w.shard, entries: chunk });
      // The root check rides with the repairs when they fit one message (the peer runs a
      // message's ops in order, so it answers with its root after them); else it waits a round.
      const bytes = ops.reduce((n, o) => n + o.bytes.length, 0);
      const load = ops.reduce((n, o) => n + this.#replyWeight(o.op), 0);
      if (w.verify === 'ask' && w.outstanding === ops.length && w.stream === null && bytes <= this.#limits.maxMessageBytes && load <= this.#limits.maxMessageBytes) {
        w.verify = 'pending';
        add(w, { op: 'verify', shard: w.shard });
      }
      if (ops.length > 0) groups.push(ops);
    }
    if (groups.length === 0) throw new AntiEntropyError('PROTOCOL', 'the session has work left but nothing to ask');
    const messages = this.#pack(groups);
    const replies = await this.#exchange(messages.map((m) => encodeBatch(m.map((o) => o.bytes), this.#version)));
    // Every reply is checked before any is applied.
    const results = messages.map((message, i) => {
      const reply = replies[i]!;
      if (reply.kind !== 'batch' || reply.results.length !== message.length) {
        throw new AntiEntropyError('PROTOCOL', `a batch of ${message.length} ops was answered with ${reply.kind === 'batch' ? `${reply.results.length} results` : `a ${reply.kind}`}`);
      }
      return message.map(({ op }, j) => {
        const result = reply.results[j]!;
        const putOff = result.op === 'deferred' && (op.op === 'sketch' || op.op === 'resolve');
        const refined = result.op === 'refine' && op.op === 'sketch' && op.pieces !== undefined;
        if (result.op !== op.op && !putOff && !refined) throw new AntiEntropyError('PROTOCOL', `a ${op.op} op was answered with a ${result.op} result`);
        return result;
      });
    });
    await Promise.all(messages.flatMap((message, i) => message.map(({ op, work: w }, j) => this.#apply(w, op, results[i]![j]!).finally(() => w.outstanding--))));
    // Our merges of this round are in: compare roots where the peer told its own.
    for (const w of work) {
      if (w.verify !== 'pending' || w.peerRoot === null) continue;
      const busy = w.fetch.length > 0 || w.push.length > 0 || w.resolve.length > 0;
      w.verify = busy ? 'ask' : equalBytes(this.#store.shardRoot(w.shard), w.peerRoot) ? 'done' : 'failed';
      w.peerRoot = null;
    }
  }

  /** Splits a list so that no op grows beyond a message. */
  #chunks<T>(items: readonly T[]): T[][] {
    const perOp = Math.max(1, Math.floor(this.#limits.maxMessageBytes / 512));
    const out: T[][] = [];
    for (let i = 0; i < items.length; i += perOp) out.push(items.slice(i, i + perOp));
    return out;
  }

  /**
   * What an op's reply may weigh, in bytes: the responder stops a reply at its byte limit and
   * the rest is asked again, a round trip more, so a message carries only ops whose replies fit
   * (a node summary ~ maxMessageBytes / maxRefsPerMessage, an entry up to 512 bytes, a sketch up
   * to 64 KiB).
   */
  #replyWeight(op: Op): number {
    const max = this.#limits.maxMessageBytes;
    switch (op.op) {
      case 'summaries':
        return (op.request.refs.length * max) / this.#limits.maxRefsPerMessage;
      case 'fetch':
        return op.keys.length * 512;
      case 'resolve':
        return op.spans.reduce((n, span) => n + span.keyFingerprints.length, 0) * 512;
      case 'sketch':
        return 64 << 10;
      case 'push':
      case 'range':
      case 'verify':
        return 0;
    }
  }

  /**
   * Packs ops into messages of at most maxMessageBytes, whose replies fit too (#replyWeight; one
   * op may exceed alone). A shard's ops of one round that fit one message go in one message: its
   * root check must follow its repairs.
   */
  #pack(groups: readonly Planned[][]): Planned[][] {
    const max = this.#limits.maxMessageBytes;
    const messages: Planned[][] = [];
    let current: Planned[] = [];
    let bytes = 0;
    let weight = 0;
    for (const group of groups) {
      const size = group.reduce((n, o) => n + o.bytes.length, 0);
      const load = group.reduce((n, o) => n + this.#replyWeight(o.op), 0);
      if (current.length > 0 && size <= max && load <= max && (bytes + size > max || weight + load > max)) {
        messages.push(current);
        current = [];
        bytes = 0;
        weight = 0;
      }
      for (const o of group) {
        const opWeight = this.#replyWeight(o.op);
        if (current.length > 0 && (bytes + o.bytes.length > max || weight + opWeight > max)) {
          messages.push(current);
          current = [];
          bytes = 0;
          weight = 0;
        }
        current.push(o);
        bytes += o.bytes.length;
        weight += opWeight;
        // A stream's batch fills a reply on its own: one per message, so that they travel in parallel.
        if (o.op.op === 'range') {
          messages.push(current);
          current = [];
          bytes = 0;
          weight = 0;
        }
      }
    }
    if (current.length > 0) messages.push(current);
    return messages;
  }

  async #apply(w: ShardWork, op: Op, result: OpResult): Promise<void> {
    const store = this.#store;
    const now = this.#now();
    // An old tombstone for a key we lack is not taken in: we collected it, or never needed it.
    const merge = async (key: string, entry: Entry): Promise<void> => {
      // The tombstone test first: a store's read may go to disk.
      if (isOldTombstone(entry, now, this.#graceMs) && store.read(key) === undefined) return;
      if (await store.merge(key, entry)) this.#pulled++;
    };
    switch (result.op) {
      case 'summaries': {
        try {
          w.diff!.receive((op as { request: SummaryRequest }).request, result.response);
        } catch (err) {
          throw toSessionError(err);
        }
        this.#settleDiff(w);
        return;
      }
      case 'fetch': {
        const keys = (op as { keys: readonly string[] }).keys;
        const answers = result.answers;
        if (answers.length > keys.length) throw new AntiEntropyError('PROTOCOL', `asked for ${keys.length} entries, got ${answers.length}`);
        if (answers.length === 0 && keys.length > 0) throw new AntiEntropyError('PROTOCOL', 'a fetch was answered with no entry at all');
        answers.forEach(({ want }, i) => want && w.push.push([keys[i]!, undefined]));
        this.#recordsReceived += answers.filter((a) => a.entry !== null).length;
        await Promise.all(answers.map(({ entry }, i) => (entry === null ? undefined : merge(keys[i]!, entry))));
        w.fetch.push(...keys.slice(answers.length));
        return;
      }
      case 'push':
        this.#pushed += result.changed;
        return;
      case 'sketch':
        this.#absorbSketch(w, this.#partOf(w, op), result);
        return;
      case 'refine':
        this.#refine(w, this.#partOf(w, op), result);
        return;
      case 'resolve':
        for (const [key] of result.entries) {
          if (store.shardOf(key) !== w.shard) throw new AntiEntropyError('PROTOCOL', `a resolve reply of shard ${w.shard} holds a key of shard ${store.shardOf(key)}`);
        }
        this.#recordsReceived += result.entries.length;
        await Promise.all(result.entries.map(([key, entry]) => merge(key, entry)));
        return;
      case 'verify':
        w.peerRoot = result.root;
        return;
      case 'deferred':
        // Put off by the responder (its batch had worked long enough): asked again next round.
        if (op.op === 'resolve') w.resolve.push(...op.spans);
        else {
          const recon = this.#partOf(w, op);
          recon.asked = false;
          recon.attempts--;
        }
        return;
      case 'range': {
        const stream = w.stream!;
        let after = stream.after;
        for (const [key] of result.entries) {
          if (after !== null && compareBytes(Buffer.from(key), Buffer.from(after)) <= 0) throw new AntiEntropyError('PROTOCOL', 'a range reply went backwards');
          if (store.shardOf(key) !== w.shard) throw new AntiEntropyError('PROTOCOL', `a range reply of shard ${w.shard} holds a key of shard ${store.shardOf(key)}`);
          after = key;
        }
        if (result.more && result.entries.length === 0) throw new AntiEntropyError('PROTOCOL', 'a range reply promised more but sent nothing');
        await Promise.all(result.entries.map(([key, entry]) => merge(key, entry)));
        this.#recordsReceived += result.entries.length;
        this.#streamed += result.entries.length;
        this.#differences += result.entries.length;
        stream.after = after;
        if (!result.more) {
          w.stream = null;
          this.#streaming--;
        }
        this.#onProgress?.({ streamed: this.#streamed, streamingShards: this.#streaming });
        return;
      }
    }
  }

  /**
   * The peer's sketch of the ranges that differ, minus ours of the same ranges, peeled. A sketch
   * too small for the difference is asked again, sized from what this one shows (see
   * Sketch.estimateDifference); after `sketchRetries` the shard is left to the next pass.
   */
  #absorbSketch(w: ShardWork, recon: Reconciliation, result: Extract<OpResult, { op: 'sketch' }>): void {
    recon.asked = false;
    const plan = this.#planOf(recon, result.differs, result.pieces);
    const keep = new ScannedEntries(KEPT_ENTRIES);
    const ours = sketchRanges(recon.tree, recon.ranges, plan, result.sketch.cells, this.#salt, keep);
    const difference = ours.sketch.differenceFrom(result.sketch);
    if (difference !== null) this.#settleSketch(w, recon, difference, keep, plan);
    // The scans read much of a large shard's tree: its loaded nodes go back to the cache's budget.
    this.#store.trimSnapshot(recon.tree);
    if (difference !== null) return;
    if (recon.attempts > this.#limits.sketchRetries) {
      w.unpeeled = true;
      this.#partDone(w, recon);
      return;
    }
    // The difference holds at most every item of both sides; a failed table that is not full
    // tells about how many (a full one only that there are more than it has cells).
    const upper = result.items + ours.items;
    const shown = ours.sketch.estimateDifference(result.sketch);
    const estimate = shown === null ? upper : Math.min(upper, 2 * shown);
    recon.cells = Math.max(2 * result.sketch.cells, sketchCells(estimate, this.#limits.maxMessageBytes));
  }

  /** What to read of a part's ranges, as the peer answered which differ; checked against what was asked. */
  #planOf(recon: Reconciliation, differs: readonly boolean[], pieces: readonly (readonly boolean[] | null)[] | undefined): ScanPlan {
    if (differs.length !== recon.ranges.length) {
      throw new AntiEntropyError('PROTOCOL', `a sketch of ${recon.ranges.length} ranges was answered for ${differs.length}`);
    }
    if (recon.pieces === undefined) return wholeRanges(differs);
    const sent = recon.pieces.fingerprints.filter((_, i) => differs[i]);
    if (pieces === undefined || pieces.length !== sent.length || pieces.some((bits, i) => bits !== null && bits.length !== sent[i]!.length)) {
      throw new AntiEntropyError('PROTOCOL', 'a sketch with pieces was answered for other pieces');
    }
    return scanPlan(differs, recon.pieces.layer, pieces);
  }

  /**
   * The peer found most of a part's pieces different (v4): sketching them would read most of the
   * part. Its differing pieces become the ranges of new parts instead, known to differ, each cut
   * into pieces a layer lower, whose fingerprints the next round sends (4 bytes each); then only
   * the differing ones of those are sketched.
   */
  #refine(w: ShardWork, recon: Reconciliation, result: Extract<OpResult, { op: 'refine' }>): void {
    const layer = recon.pieces?.layer ?? 0;
    if (layer < 2) throw new AntiEntropyError('PROTOCOL', 'a sketch was answered with pieces to cut again below layer 1');
    const plan = this.#planOf(recon, result.differs, result.pieces);
    const { tree } = recon;
    const sub = layer - 1;
    const rangeKeys = tree.fanout ** layer;
    const parts: Reconciliation[] = [];
    let spans: { lo: Uint8Array | null; hi: Uint8Array | null; cuts: Uint8Array[]; fingerprints: [] }[] = [];
    let fingerprints: Uint32Array[] = [];
    let pieceCount = 0;
    const close = (): void => {
      if (fingerprints.length === 0) return;
      parts.push({ tree, root: recon.root, spans, ranges: rangesOf(spans), pieces: { layer: sub, fingerprints }, known: true, attempts: 0, cells: 0, asked: false });
      spans = [];
      fingerprints = [];
      pieceCount = 0;
    };
    recon.ranges.forEach((range, i) => {
      const scan = plan.ranges[i];
      if (scan === false || scan === undefined) return;
      const edges = [range.lo, ...keysFromLayer(tree, layer, range.lo, range.hi), range.hi];
      for (let j = 0; j + 1 < edges.length; j++) {
        if (scan !== true && scan[j] !== true) continue;
        const [lo, hi] = [edges[j]!, edges[j + 1]!];
        const fps = pieceFingerprints(tree, sub, lo, hi, this.#salt);
        const full =
          fingerprints.length >= MAX_SKETCH_RANGES || (fingerprints.length + 1) * rangeKeys > this.#limits.maxSketchKeys || pieceCount + fps.length > MAX_PIECES;
        if (full) close();
        const last = spans.at(-1);
        // A piece that starts where the last one ends continues its span, cut at its first key.
        if (last !== undefined && last.hi !== null && lo !== null && equalBytes(last.hi, lo)) {
          last.cuts.push(lo);
          last.hi = hi;
        } else spans.push({ lo, hi, cuts: [], fingerprints: [] });
        fingerprints.push(fps);
        pieceCount += fps.length;
      }
    });
    close();
    this.#store.trimSnapshot(tree);
    w.recons = w.recons.filter((r) => r !== recon).concat(parts);
    if (parts.length === 0) this.#partDone(w, recon);
  }

  /** The part of a shard a sketch op asked about: the one whose spans it carries. */
  #partOf(w: ShardWork, op: Op): Reconciliation {
    const recon = op.op === 'sketch' ? w.recons.find((r) => r.spans === op.spans) : undefined;
    if (recon === undefined) throw new AntiEntropyError('PROTOCOL', `shard ${w.shard}: a sketch result for no part in progress`);
    return recon;
  }

  /** Sends messages (at most `concurrency` in flight), counting bytes and round trips; decodes and checks the replies. */
  async #exchange(messages: readonly Uint8Array[]): Promise<Reply[]> {
    const replies: Reply[] = new Array(messages.length);
    this.#roundTrips += Math.ceil(messages.length / this.#limits.concurrency);
    let next = 0;
    let failed = false;
    const worker = async (): Promise<void> => {
      while (next < messages.length && !failed) {
        const i = next++;
        const message = messages[i]!;
        this.#checkBudget(message.length);
        this.#bytesSent += message.length;
        this.#requests++;
        let bytes: Uint8Array;
        try {
          bytes = await this.#transport(message, this.#signal);
        } catch (err) {
          if (this.#signal.aborted) throw new AntiEntropyError('ABORTED', 'the session was cancelled', { cause: err });
          throw err instanceof AntiEntropyError ? err : new AntiEntropyError('TRANSPORT', `the peer did not answer: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        }
        this.#bytesReceived += bytes.length;
        const reply = decodeReply(bytes);
        if (reply.kind === 'error') throw new AntiEntropyError(reply.code, `the peer refused: ${reply.message}`, { remote: true });
        replies[i] = reply;
      }
    };
    if (this.#signal.aborted) throw new AntiEntropyError('ABORTED', 'the session was cancelled');
    const stopOthers = (err: unknown): never => {
      failed = true;
      throw err;
    };
    await Promise.all(Array.from({ length: Math.min(this.#limits.concurrency, messages.length) }, () => worker().catch(stopOthers)));
    return replies;
  }

  #checkBudget(next: number): void {
    const spent = this.#bytesSent + this.#bytesReceived;
    if (spent + next > this.#limits.byteBudget) {
      throw new AntiEntropyError('BUDGET', `the session spent ${spent} of its ${this.#limits.byteBudget} bytes; the next one carries on`);
    }
  }
}

/** The ranges a shard is cut into for its sketch, at least (see #reconcile). */
const RANGES_PER_SHARD = 32;
/** Entries a sketch keeps the keys of (views, ~30 bytes each) so that peeled keys are named without a second scan. */
const KEPT_ENTRIES = 1 << 18;

/** An op as planned for a round: which shard's work it serves, and its bytes. */
interface Planned {
  readonly op: Op;
  readonly work: ShardWork;
  readonly bytes: Uint8Array;
}

function toSessionError(err: unknown): AntiEntropyError {
  if (err instanceof AntiEntropyError) return err;
  if (isMstError(err)) {
    const code = err.code === 'STALE' ? 'STALE' : err.code === 'DECODE' ? 'DECODE' : 'PROTOCOL';
    return new AntiEntropyError(code, err.message, { cause: err });
  }
  return new AntiEntropyError('PROTOCOL', `the session failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}
