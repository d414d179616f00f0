/*
 * Membership: who is in the cluster, and who is alive
 * ===================================================
 *
 * Every node publishes an announcement every `intervalMs` on the core NATS subject
 * `merklekv.<c>.members` (not stored: only the present matters) and listens to everyone
 * else's. An announcement says who the node is (id, version, addresses, start time) and how it
 * is doing (its shards' MST roots, so anti-entropy can tell at a glance which shards differ,
 * its load, its outbox depth).
 *
 * A peer is `alive` while it announces, `suspect` after `suspectAfterMs` of silence and `dead`
 * after `deadAfterMs`; a node that stops gracefully says `leaving: true` and is dead at once.
 * A dead peer is forgotten after `forgetAfterMs`. Silence is measured on the local monotonic
 * clock from the last announcement received, never from the sender's wall clock.
 *
 * Lifeguard-style self-awareness: a node whose own event loop is stalled (GC, a long
 * synchronous task, an overloaded machine) reads its socket late, and would blame its peers
 * for the silence. So each node measures its own event-loop lag (how late a 100 ms timer
 * fires; the worst lateness of the last 10 s, or the lateness of a tick that is overdue right
 * now) and widens both timeouts by the factor `1 + lag / intervalMs` (at most 8): a node that
 * was frozen for 2 s waits three times longer before it suspects anyone.
 *
 * Incarnations: a restarted node announces a new `startedAt`; announcements of an older
 * incarnation than the one known are ignored. Announcements that do not decode strictly
 * (JSON of format version 1 with every field typed and bounded; unknown fields are ignored for
 * forward compatibility) are counted as garbage and ignored.
 */
import { type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { ReplicationError, describeError } from './errors.js';
import { MAX_SHARDS, assertName, replicationSubjects } from './subjects.js';
import { type ReplicationLogger, positiveInt, silentLogger } from './util.js';

export const ANNOUNCEMENT_VERSION = 1;

export interface NodeAddresses {
  /** host:port of the MerkleKV text protocol. */
  readonly merklekv: string;
  /** host:port of the HTTP API. */
  readonly http: string;
}

export interface Announcement {
  readonly id: string;
  /** The software version. */
  readonly version: string;
  readonly addresses: NodeAddresses;
  /** When this incarnation started (ms since the epoch). */
  readonly startedAt: number;
  /** Root hash (hex) of each shard's MST; may be empty. */
  readonly roots: Readonly<Record<number, string>>;
  /** A load figure (e.g. requests/s or event-loop utilisation); >= 0. */
  readonly load: number;
  /** Records waiting in the node's outbox. */
  readonly outboxDepth: number;
  /** True in the last announcement of a node that stops gracefully. */
  readonly leaving: boolean;
}

export type PeerState = 'alive' | 'suspect' | 'dead';

export interface PeerInfo extends Announcement {
  readonly state: PeerState;
  /** When the last announcement arrived (ms since the epoch, local clock). */
  readonly lastSeenAt: number;
}

export interface PeerChange {
  readonly peer: PeerInfo;
  /** undefined for a newly discovered peer. */
  readonly previous: PeerState | undefined;
}

export interface MembershipOptions {
  readonly nc: NatsConnection;
  readonly cluster: string;
  readonly self: {
    readonly id: string;
    readonly version: string;
    readonly addresses: NodeAddresses;
    /** Default: now. */
    readonly startedAt?: number;
  };
  /** Default 1000. */
  readonly intervalMs?: number;
  /** Default 3000. */
  readonly suspectAfterMs?: number;
  /** Default 10000. */
  readonly deadAfterMs?: number;
  /** Dead peers leave the view after this long (default 10 min). */
  readonly forgetAfterMs?: number;
  readonly roots?: () => Readonly<Record<number, string>>;
  readonly load?: () => number;
  readonly outboxDepth?: () => number;
  readonly onChange?: (change: PeerChange) => void;
  readonly logger?: ReplicationLogger;
}

export interface MembershipStats {
  readonly sent: number;
  readonly received: number;
  /** Announcements that did not decode, ignored. */
  readonly garbage: number;
  /** Own event-loop lag considered now (ms). */
  readonly lagMs: number;
  /** The factor applied to suspect/dead timeouts now (>= 1). */
  readonly timeoutFactor: number;
  readonly lastError: string | undefined;
}

export const MEMBERSHIP_DEFAULTS = {
  intervalMs: 1_000,
  suspectAfterMs: 3_000,
  deadAfterMs: 10_000,
  forgetAfterMs: 10 * 60_000,
} as const;

const MAX_FACTOR = 8;
const MAX_ANNOUNCEMENT_BYTES = 512 * 1024;

// ---------------------------------------------------------------------------------------------
// The wire format

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SHARD_KEY = /^(0|[1-9][0-9]{0,3})$/;
const HEX = /^(?:[0-9a-f]{2}){0,64}$/;

export function encodeAnnouncement(a: Announcement): Uint8Array {
  return utf8.encode(
    JSON.stringify({
      v: ANNOUNCEMENT_VERSION,
      id: a.id,
      version: a.version,
      addresses: { merklekv: a.addresses.merklekv, http: a.addresses.http },
      startedAt: a.startedAt,
      roots: a.roots,
      load: a.load,
      outboxDepth: a.outboxDepth,
      leaving: a.leaving,
    }),
  );
}

function bad(why: string, cause?: unknown): never {
  throw new ReplicationError('BAD_MESSAGE', `malformed announcement: ${why}`, cause === undefined ? undefined : { cause });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Record<string, unknown>, key: string, min: number, max: number): string {
  const v = o[key];
  if (typeof v !== 'string' || v.length < min || v.length > max) bad(`${key} must be a string of ${min}-${max} characters`);
  return v;
}

function count(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${key} must be a non-negative integer`);
  return v;
}

/** Throws ReplicationError('BAD_MESSAGE') on anything but a well-formed announcement. */
export function decodeAnnouncement(bytes: Uint8Array): Announcement {
  if (bytes.length > MAX_ANNOUNCEMENT_BYTES) bad(`${bytes.length} bytes`);
  let o: unknown;
  try {
    o = JSON.parse(strictUtf8.decode(bytes));
  } catch (err) {
    return bad('not JSON in UTF-8', err);
  }
  if (!isObject(o)) return bad('not an object');
  if (o['v'] !== ANNOUNCEMENT_VERSION) bad(`unknown version ${JSON.stringify(o['v'])}`);
  const id = str(o, 'id', 1, 64);
  if (!NODE_ID.test(id)) bad('id is not a node id');
  const version = str(o, 'version', 1, 64);
  const addresses = o['addresses'];
  if (!isObject(addresses)) return bad('addresses must be an object');
  const merklekv = str(addresses, 'merklekv', 0, 256);
  const http = str(addresses, 'http', 0, 256);
  const startedAt = count(o, 'startedAt');
  const rawRoots = o['roots'];
  if (!isObject(rawRoots)) return bad('roots must be an object');
  const roots: Record<number, string> = {};
  for (const [k, v] of Object.entries(rawRoots)) {
    if (!SHARD_KEY.test(k) || Number(k) >= MAX_SHARDS) bad(`roots has a key ${JSON.stringify(k.slice(0, 16))} that is not a shard`);
    if (typeof v !== 'string' || !HEX.test(v)) bad(`root of shard ${k} is not lowercase hex of at most 64 bytes`);
    roots[Number(k)] = v;
  }
  const load = o['load'];
  if (typeof load !== 'number' || !Number.isFinite(load) || load < 0) bad('load must be a finite number >= 0');
  const outboxDepth = count(o, 'outboxDepth');
  const leaving = o['leaving'];
  if (typeof leaving !== 'boolean') bad('leaving must be a boolean');
  return { id, version, addresses: { merklekv, http }, startedAt, roots, load, outboxDepth, leaving };
}

// ---------------------------------------------------------------------------------------------
// Own event-loop lag

/** How late a periodic timer fires: the worst lateness over a window, or the current overdue tick. */
export class LagMonitor {
  readonly #sampleMs: number;
  readonly #windowMs: number;
  #timer: NodeJS.Timeout | undefined;
  #expected = 0;
  /** (time, lateness) of late ticks within the window. */
  #samples: Array<{ at: number; lag: number }> = [];

  constructor(sampleMs = 100, windowMs = 10_000) {
    this.#sampleMs = sampleMs;
    this.#windowMs = windowMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#expected = performance.now() + this.#sampleMs;
    this.#timer = setInterval(() => this.#tick(), this.#sampleMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#samples = [];
  }

  #tick(): void {
    const now = performance.now();
    const lag = now - this.#expected;
    if (lag > 1) this.#samples.push({ at: now, lag });
    this.#expected = now + this.#sampleMs;
    this.#prune(now);
  }

  #prune(now: number): void {
    let i = 0;
    while (i < this.#samples.length && now - this.#samples[i]!.at > this.#windowMs) i++;
    if (i > 0) this.#samples.splice(0, i);
  }

  /** Milliseconds. */
  lagMs(): number {
    if (this.#timer === undefined) return 0;
    const now = performance.now();
    this.#prune(now);
    let worst = Math.max(0, now - this.#expected);
    for (const s of this.#samples) worst = Math.max(worst, s.lag);
    return worst;
  }
}

// ---------------------------------------------------------------------------------------------
// The view

interface Peer {
  info: Announcement;
  state: PeerState;
  /** performance.now() of the last announcement. */
  seen: number;
  seenAt: number;
}

export class Membership {
  readonly #nc: NatsConnection;
  readonly #subject: string;
  readonly #self: MembershipOptions['self'] & { readonly startedAt: number };
  readonly #intervalMs: number;
  readonly #suspectAfterMs: number;
  readonly #deadAfterMs: number;
  readonly #forgetAfterMs: number;
  readonly #roots: () => Readonly<Record<number, string>>;
  readonly #load: () => number;
  readonly #outboxDepth: () => number;
  readonly #logger: ReplicationLogger;
  readonly #lag = new LagMonitor();
  readonly #peers = new Map<string, Peer>();
  readonly #listeners = new Set<(change: PeerChange) => void>();

  #sub: Subscription | undefined;
  #announceTimer: NodeJS.Timeout | undefined;
  #checkTimer: NodeJS.Timeout | undefined;
  #running = false;
  #sent = 0;
  #received = 0;
  #garbage = 0;
  #lastError: string | undefined;
  #warnedImpostor = false;

  constructor(options: MembershipOptions) {
    this.#nc = options.nc;
    this.#subject = replicationSubjects(options.cluster).members;
    assertName('node id', options.self.id);
    this.#self = { ...options.self, startedAt: options.self.startedAt ?? Date.now() };
    this.#intervalMs = positiveInt('intervalMs', options.intervalMs ?? MEMBERSHIP_DEFAULTS.intervalMs);
    this.#suspectAfterMs = positiveInt('suspectAfterMs', options.suspectAfterMs ?? MEMBERSHIP_DEFAULTS.suspectAfterMs);
    this.#deadAfterMs = positiveInt('deadAfterMs', options.deadAfterMs ?? MEMBERSHIP_DEFAULTS.deadAfterMs);
    this.#forgetAfterMs = positiveInt('forgetAfterMs', options.forgetAfterMs ?? MEMBERSHIP_DEFAULTS.forgetAfterMs);
    if (this.#suspectAfterMs <= this.#intervalMs || this.#deadAfterMs <= this.#suspectAfterMs) {
      throw new ReplicationError('BAD_OPTIONS', 'membership timeouts must satisfy intervalMs < suspectAfterMs < deadAfterMs');
    }
    this.#roots = options.roots ?? (() => ({}));
    this.#load = options.load ?? (() => 0);
    this.#outboxDepth = options.outboxDepth ?? (() => 0);
    this.#logger = options.logger ?? silentLogger;
    if (options.onChange !== undefined) this.#listeners.add(options.onChange);
  }

  /** Subscribes, announces at once and then every intervalMs. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#lag.start();
    this.#sub = this.#nc.subscribe(this.#subject, {
      callback: (err, msg) => {
        if (err === null) this.#receive(msg.data);
      },
    });
    this.#announce(false);
    this.#announceTimer = setInterval(() => this.#announce(false), this.#intervalMs);
    const checkEvery = Math.max(20, Math.min(250, Math.floor(this.#suspectAfterMs / 4)));
    this.#checkTimer = setInterval(() => this.#evaluate(), checkEvery);
  }

  /** Announces `leaving`, so peers mark this node dead at once, and stops. */
  async stop(timeoutMs = 1_000): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    clearInterval(this.#announceTimer);
    clearInterval(this.#checkTimer);
    this.#lag.stop();
    this.#announce(true);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#nc.flush().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.#sub?.unsubscribe();
    this.#sub = undefined;
  }

  /** Every known peer (not this node), by id. */
  view(): PeerInfo[] {
    return [...this.#peers.values()].map((p) => this.#info(p)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  peer(id: string): PeerInfo | undefined {
    const p = this.#peers.get(id);
    return p === undefined ? undefined : this.#info(p);
  }

  /** Calls `listener` on every state change of a peer (and on discovery). Returns the unsubscribe function. */
  onChange(listener: (change: PeerChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  get stats(): MembershipStats {
    const lagMs = this.#lag.lagMs();
    return { sent: this.#sent, received: this.#received, garbage: this.#garbage, lagMs, timeoutFactor: this.#factor(lagMs), lastError: this.#lastError };
  }

  #factor(lagMs: number): number {
    return Math.min(MAX_FACTOR, 1 + lagMs / this.#intervalMs);
  }

  #info(p: Peer): PeerInfo {
    return { ...p.info, state: p.state, lastSeenAt: p.seenAt };
  }

  #announce(leaving: boolean): void {
    try {
      const announcement: Announcement = {
        id: this.#self.id,
        version: this.#self.version,
        addresses: this.#self.addresses,
        startedAt: this.#self.startedAt,
        roots: this.#roots(),
        load: this.#load(),
        outboxDepth: this.#outboxDepth(),
        leaving,
      };
      this.#nc.publish(this.#subject, encodeAnnouncement(announcement));
      this.#sent += 1;
    } catch (err) {
      // A closed connection, or a callback that threw: try again next interval.
      this.#lastError = describeError(err);
    }
  }

  #receive(data: Uint8Array): void {
    let a: Announcement;
    try {
      a = decodeAnnouncement(data);
    } catch (err) {
      this.#garbage += 1;
      this.#lastError = describeError(err);
      return;
    }
    if (a.id === this.#self.id) {
      if (a.startedAt !== this.#self.startedAt && !this.#warnedImpostor) {
        this.#warnedImpostor = true;
        this.#logger.warn('replication: another process announces this node id', { id: a.id, theirStartedAt: a.startedAt });
      }
      return;
    }
    this.#received += 1;
    const now = performance.now();
    const known = this.#peers.get(a.id);
    if (known !== undefined && a.startedAt < known.info.startedAt) return; // an older incarnation
    const state: PeerState = a.leaving ? 'dead' : 'alive';
    const peer: Peer = { info: a, state, seen: now, seenAt: Date.now() };
    this.#peers.set(a.id, peer);
    if (known?.state !== state) this.#emit(peer, known?.state);
  }

  #evaluate(): void {
    const now = performance.now();
    const factor = this.#factor(this.#lag.lagMs());
    const suspectAfter = this.#suspectAfterMs * factor;
    const deadAfter = this.#deadAfterMs * factor;
    for (const [id, p] of this.#peers) {
      const silence = now - p.seen;
      if (p.state === 'dead') {
        if (silence >= this.#forgetAfterMs) this.#peers.delete(id);
        continue;
      }
      const state: PeerState = silence >= deadAfter ? 'dead' : silence >= suspectAfter ? 'suspect' : 'alive';
      if (state !== p.state) {
        const previous = p.state;
        p.state = state;
        this.#emit(p, previous);
      }
    }
  }

  #emit(p: Peer, previous: PeerState | undefined): void {
    const change: PeerChange = { peer: this.#info(p), previous };
    for (const l of [...this.#listeners]) {
      try {
        l(change);
      } catch (err) {
        this.#logger.warn('replication: a membership listener threw', { error: describeError(err) });
      }
    }
  }
}
