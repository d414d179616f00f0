/**
 * The round policy of anti-entropy, apart from its transports and timers: when the next round
 * runs and with whom.
 *
 * - When: the first round soon after start-up (a new or wiped node fills up at once), then every
 *   interval, each delay with ±20% jitter so that nodes started together drift apart instead of
 *   all syncing in the same second.
 * - With whom: among the live members that are full replicas (a split deployment's store-shard
 *   processes hold some shards and serve no sessions) and the static peers (`peer_list`, reached
 *   over the text protocol), the one picked least recently; ties, such as every peer at start-up,
 *   are broken at random so that a cluster's first rounds spread over its members. A peer with a
 *   session running is skipped (one session per peer at a time).
 *
 * The clock and the randomness are injected: the policy is tested without timers.
 */

/** A member as membership reports it, for the choice of a round's peer. */
export interface RoundCandidate {
  readonly id: string;
  readonly alive: boolean;
  /** Hosts every shard (an all-in-one node), so it can serve a session. */
  readonly fullReplica: boolean;
}

/** The peer of a round: a member over the cluster transport, or a static peer by its text-protocol address. */
export type RoundTarget = { readonly kind: 'member'; readonly id: string } | { readonly kind: 'static'; readonly address: string };

export interface AntiEntropyCoordinatorOptions {
  readonly intervalMs: number;
  /** Static peers as `host:port`. */
  readonly staticPeers?: readonly string[];
  /** Delay of the first round when the interval is longer (default 2 s). */
  readonly firstRoundMs?: number;
  /** ms; default Date.now. */
  readonly now?: () => number;
  /** In [0, 1); default Math.random. */
  readonly random?: () => number;
}

/** ±20%: enough for nodes started together to drift apart within a few rounds. */
const JITTER = 0.2;
const FIRST_ROUND_MS = 2_000;

export class AntiEntropyCoordinator {
  readonly #intervalMs: number;
  readonly #staticPeers: readonly string[];
  readonly #firstRoundMs: number;
  readonly #now: () => number;
  readonly #random: () => number;
  /** When each peer (node id, or host:port of a static peer) was last picked. */
  readonly #pickedAt = new Map<string, number>();
  #rounds = 0;

  constructor(options: AntiEntropyCoordinatorOptions) {
    this.#intervalMs = options.intervalMs;
    this.#staticPeers = options.staticPeers ?? [];
    this.#firstRoundMs = options.firstRoundMs ?? FIRST_ROUND_MS;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
  }

  /** Rounds started so far. */
  get rounds(): number {
    return this.#rounds;
  }

  /** How long to wait before the first round. */
  firstDelayMs(): number {
    return this.#jittered(Math.min(this.#firstRoundMs, this.#intervalMs));
  }

  /** How long to wait after a round before the next. */
  nextDelayMs(): number {
    return this.#jittered(this.#intervalMs);
  }

  /**
   * Picks the next round's peer and counts the round: `requested` (a member id) when it is a
   * live full replica with no session running, else the candidate picked least recently.
   * Undefined when there is none (or `requested` does not qualify); nothing is counted then.
   */
  choose(members: readonly RoundCandidate[], busy: (peer: string) => boolean, requested?: string): RoundTarget | undefined {
    const eligible = members.filter((m) => m.alive && m.fullReplica && !busy(m.id)).map((m) => m.id);
    let chosen: string | undefined;
    if (requested !== undefined) chosen = eligible.includes(requested) ? requested : undefined;
    else {
      const statics = this.#staticPeers.filter((address) => !busy(address));
      const ranked = [...eligible, ...statics].map((id) => ({ id, at: this.#pickedAt.get(id) ?? 0, tie: this.#random() }));
      ranked.sort((x, y) => x.at - y.at || x.tie - y.tie);
      chosen = ranked[0]?.id;
    }
    if (chosen === undefined) return undefined;
    this.#rounds++;
    this.#pickedAt.set(chosen, this.#now());
    return eligible.includes(chosen) ? { kind: 'member', id: chosen } : { kind: 'static', address: chosen };
  }

  #jittered(ms: number): number {
    return ms * (1 - JITTER + this.#random() * 2 * JITTER);
  }
}
