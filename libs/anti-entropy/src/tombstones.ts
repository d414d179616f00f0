/**
 * Tombstone collection: when a replica may forget a delete
 * ========================================================
 *
 * A tombstone (k, t) exists to beat older states of k. Forgetting it is safe once no replica
 * holds, and no message carries, a state of k older than t: then nothing is left for t to beat,
 * and nothing can bring an old value back. Anti-entropy sessions are what lets a replica know
 * that, so the rule is stated in terms of them. Node X collects (k, t) of shard s when:
 *
 * 1. Age: t is older than the grace period (`graceMs`, by the HLC wall time of t).
 * 2. Two confirmations by every participant, both after X marked (k, t) as a candidate (so X
 *    already held it). A confirmation of peer P for shard s is a session X initiated with P
 *    that compared and repaired shard s completely while P's outbox and replication backlog
 *    were both empty. Afterwards P holds t, or holds no state of k at all: a key P holds
 *    differently is repaired both ways (and if P's state beats t, X's entry changes and is no
 *    longer a candidate); a key P lacks is not sent to it (see below), which is just as safe.
 *    X itself is a participant too: it confirms itself when its own outbox and backlog were
 *    empty at the start of a session.
 *    - The first round (some confirmation after the mark, for each participant) ends at T, the
 *      latest of those. By then every outbox was empty once after its node held t or lacked k,
 *      so every change of k older than t that any node ever made has been published.
 *    - The second round (a confirmation after T, for each participant) finds every backlog
 *      empty after those publications: every such change has been merged everywhere, where it
 *      lost to t or was repaired to t by that very session.
 * 3. Participants: every node that announced itself within the grace period (the membership
 *    view keeps dead peers for a while; this remembers longer), and at least one peer. X
 *    collects nothing before it has itself been up for the grace period, so that it knows who
 *    was around.
 *
 * Skipping old tombstones. A session never sends a tombstone older than the grace period to a
 * side that lacks its key: the side that lacks it has collected it, or never had any state of
 * the key (which is as good). Without this, two replicas that collect the same tombstone a few
 * rounds apart would hand it back and forth for ever. Their trees differ meanwhile, in exactly
 * those keys, until the second one collects too.
 *
 * What the rule assumes: a node that was away (announced nothing) for longer than the grace
 * period rejoins with an empty store, as Cassandra asks for its gc_grace_seconds: such a node
 * may hold values whose tombstones everyone else has since collected. The default grace
 * (a day) makes that an operator's decision, not a race.
 */
import { type Entry, type Stamp, compareStamps } from '#crdt';
import { type ReplicaStore } from '#store';

/** True for a tombstone old enough to be collected, or to be left out of a transfer. */
export function isOldTombstone(entry: Entry, now: number, graceMs: number): boolean {
  return entry.type === 'tombstone' && entry.stamp.hlc.wall <= now - graceMs;
}

export interface TombstoneCollectorOptions {
  readonly store: ReplicaStore;
  /** How old a tombstone must be before it may go, and how long a silent node counts as a participant. */
  readonly graceMs: number;
  readonly now?: () => number;
}

interface Candidate {
  readonly stamp: Stamp;
  readonly markedAt: number;
}

/** Confirmation times kept per participant and shard: enough for two rounds of every participant. */
const MAX_CONFIRMATIONS = 64;
const SELF = '\u0000self';

export class TombstoneCollector {
  readonly #store: ReplicaStore;
  readonly #graceMs: number;
  readonly #now: () => number;
  readonly #startedAt: number;
  readonly #candidates: Map<string, Candidate>[];
  /** participant -> shard -> start times of its confirmations, ascending. */
  readonly #confirmations = new Map<string, Map<number, number[]>>();
  readonly #lastSeen = new Map<string, number>();
  #collected = 0;

  constructor(options: TombstoneCollectorOptions) {
    this.#store = options.store;
    this.#graceMs = options.graceMs;
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#candidates = Array.from({ length: this.#store.shardCount }, () => new Map());
  }

  /** Tombstones collected so far. */
  get collected(): number {
    return this.#collected;
  }

  /** Marks peers as present now (call with the membership view, whatever each peer's state). */
  observe(peers: readonly string[]): void {
    const now = this.#now();
    for (const peer of peers) this.#lastSeen.set(peer, now);
  }

  /**
   * Records a session this node initiated with `peer`, which started at `startedAt` and
   * compared and repaired `shards` completely. `peerClean` / `selfClean`: the peer's and this
   * node's outbox and backlog were empty at its start.
   */
  recordSession(peer: string, shards: readonly number[], startedAt: number, peerClean: boolean, selfClean: boolean): void {
    this.#lastSeen.set(peer, Math.max(this.#lastSeen.get(peer) ?? 0, startedAt));
    if (peerClean) this.#confirm(peer, shards, startedAt);
    if (selfClean) this.#confirm(SELF, shards, startedAt);
  }

  #confirm(participant: string, shards: readonly number[], at: number): void {
    let byShard = this.#confirmations.get(participant);
    if (byShard === undefined) this.#confirmations.set(participant, (byShard = new Map()));
    for (const shard of shards) {
      const times = byShard.get(shard) ?? [];
      times.push(at);
      if (times.length > MAX_CONFIRMATIONS) times.shift();
      byShard.set(shard, times);
    }
  }

  /** One pass: marks new candidates and collects those every participant confirmed twice. Returns how many went. */
  async collect(): Promise<number> {
    const now = this.#now();
    for (const [peer, seen] of this.#lastSeen) if (seen < now - this.#graceMs) this.#lastSeen.delete(peer);
    const participants = [...this.#lastSeen.keys()];
    const settled = participants.length > 0 && now - this.#startedAt >= this.#graceMs;
    const collections: Promise<boolean>[] = [];
    for (let shard = 0; shard < this.#candidates.length; shard++) {
      const candidates = this.#candidates[shard]!;
      for (const [key, entry] of this.#store.shardTombstones(shard)) {
        if (!candidates.has(key) && isOldTombstone(entry, now, this.#graceMs)) candidates.set(key, { stamp: entry.stamp, markedAt: now });
      }
      for (const [key, candidate] of candidates) {
        const entry = this.#store.read(key);
        if (entry?.type !== 'tombstone' || compareStamps(entry.stamp, candidate.stamp) !== 0) candidates.delete(key);
        else if (settled && this.#confirmedTwice([...participants, SELF], shard, candidate.markedAt)) {
          candidates.delete(key);
          collections.push(this.#store.collectTombstone(key, candidate.stamp));
        }
      }
    }
    const collected = (await Promise.all(collections)).filter(Boolean).length;
    this.#collected += collected;
    return collected;
  }

  #confirmedTwice(participants: readonly string[], shard: number, markedAt: number): boolean {
    let firstRoundEnd = markedAt;
    for (const p of participants) {
      const first = this.#confirmations.get(p)?.get(shard)?.find((t) => t > markedAt);
      if (first === undefined) return false;
      firstRoundEnd = Math.max(firstRoundEnd, first);
    }
    return participants.every((p) => (this.#confirmations.get(p)?.get(shard)?.at(-1) ?? -Infinity) > firstRoundEnd);
  }
}
