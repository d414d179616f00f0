/**
 * The command layer's vocabulary: every protocol adapter (MerkleKV text, memcached text, HTTP)
 * decodes its requests into a {@link Command} and encodes the matching {@link ResultOf} entry.
 *
 * Keys are strings (UTF-8, no space/tab/newline, non-empty); values are raw bytes so that HTTP
 * clients can store binary data while the text protocol stores UTF-8.
 */

export type Command =
  | { readonly name: 'GET'; readonly key: string }
  | { readonly name: 'SET'; readonly key: string; readonly value: Uint8Array }
  | { readonly name: 'DEL'; readonly key: string }
  /** INC/INCR/DEC/DECR: DEC is sent as a negated amount. */
  | { readonly name: 'INCR'; readonly key: string; readonly amount: bigint }
  | { readonly name: 'APPEND'; readonly key: string; readonly value: Uint8Array }
  | { readonly name: 'PREPEND'; readonly key: string; readonly value: Uint8Array }
  | { readonly name: 'MGET'; readonly keys: readonly string[] }
  | { readonly name: 'MSET'; readonly pairs: readonly (readonly [string, Uint8Array])[] }
  | { readonly name: 'EXISTS'; readonly keys: readonly string[] }
  /** Keys with a literal prefix in byte order; `after` (exclusive) and `limit` page through them. */
  | { readonly name: 'SCAN'; readonly prefix: string; readonly after?: string; readonly limit?: number }
  | { readonly name: 'DBSIZE' }
  | { readonly name: 'MEMORY' }
  | { readonly name: 'PING'; readonly message?: string }
  | { readonly name: 'ECHO'; readonly message: string }
  | { readonly name: 'STATS' }
  | { readonly name: 'INFO' }
  | { readonly name: 'VERSION' }
  | { readonly name: 'TRUNCATE' }
  | { readonly name: 'SHUTDOWN' }
  | { readonly name: 'CLIENT_LIST' }
  /** `pattern` is undefined for bare HASH, '*' for all keys, otherwise a literal key prefix. */
  | { readonly name: 'HASH'; readonly pattern?: string }
  | { readonly name: 'SYNC'; readonly host: string; readonly port: number; readonly full: boolean; readonly verify: boolean }
  | { readonly name: 'REPLICATE'; readonly action: 'enable' | 'disable' | 'status' }
  /** One anti-entropy session message from a peer: how `SYNC host port` reaches this node (internal). */
  | { readonly name: 'AE'; readonly message: Uint8Array }
  /** Streams the changes of keys with a literal prefix until the client stops it. */
  | { readonly name: 'WATCH'; readonly prefix: string }
  // Items: values with client flags, an expiry and a CAS value (memcached, HTTP, EXPIRE/TTL/PERSIST).
  /** A conditional or attributed write (see {@link StoreMode}); `cas` adds a compare-and-set to any mode. */
  | {
      readonly name: 'STORE';
      readonly key: string;
      readonly value: Uint8Array;
      readonly mode: StoreMode;
      /** Store only if the key's current CAS value is this one (absent key: NOT_FOUND; another value: EXISTS). */
      readonly cas?: bigint;
      /** 32-bit client flags kept with the value (default 0). Ignored by append/prepend, which keep the key's. */
      readonly flags?: number;
      /** Absolute expiry, ms since the Unix epoch (see expiry.ts); absent: never. Ignored by append/prepend. */
      readonly expiresAt?: number;
    }
  /** A delete that may be conditional on the key's CAS value. */
  | { readonly name: 'REMOVE'; readonly key: string; readonly cas?: bigint }
  /** Sets a live key's expiry (absent: never expires, i.e. PERSIST); keeps its value, flags and CAS value. */
  | { readonly name: 'TOUCH'; readonly key: string; readonly expiresAt?: number }
  /**
   * memcached's incr/decr: the value is an unsigned 64-bit decimal; incr wraps at 2^64, decr stops
   * at 0. Replicates as a counter change, so concurrent adjustments on different nodes all count.
   */
  | {
      readonly name: 'ADJUST';
      readonly key: string;
      /** Positive: incr; negative: decr. |delta| < 2^64. */
      readonly delta: bigint;
      /** Only if the key's current CAS value is this one (meta `ma C`). */
      readonly cas?: bigint;
      /** Create a missing key with this value (meta `ma N`/`J`) instead of answering NOT_FOUND. */
      readonly initial?: { readonly value: bigint; readonly expiresAt?: number };
    }
  /** Items of several keys (value, flags, CAS value, expiry), in request order. */
  | { readonly name: 'LOOKUP'; readonly keys: readonly string[] };

export type CommandName = Command['name'];

/**
 * How STORE treats the key's current state (memcached's storage commands):
 * - `set`: always stores;
 * - `add`: only if the key is absent or expired, else NOT_STORED;
 * - `replace`: only if the key is live, else NOT_STORED;
 * - `append`/`prepend`: only if the key is live (else NOT_STORED); the bytes go after/before the
 *   current value, which keeps its flags and expiry.
 */
export type StoreMode = 'set' | 'add' | 'replace' | 'append' | 'prepend';

/** A live key as the item commands see it. */
export interface Item {
  readonly value: Uint8Array;
  /** 32-bit client flags (0 unless a write gave some). */
  readonly flags: number;
  /**
   * In [1, 2^63) (see `entryCas`): changes with every write of the key (set, append, incr, delete and
   * re-create...), not with TOUCH (as memcached). Derived from the key's replicated state (see
   * `entryCas` in #crdt): every replica holding the same state gives the same value, across
   * restarts.
   */
  readonly cas: bigint;
  /** Absolute expiry, ms since the Unix epoch; undefined: never expires. See `remainingSeconds`. */
  readonly expiresAt?: number;
}

/**
 * Outcomes of the conditional commands: stable codes each adapter maps to its protocol
 * (memcached's words are these; HTTP: NOT_STORED/EXISTS 412, NOT_FOUND 404 or 412).
 * - NOT_STORED: the mode's condition failed (add on a live key; replace/append/prepend on an absent one);
 * - EXISTS: a CAS value was given and the key's is another one;
 * - NOT_FOUND: the key is absent (or expired) where the command needs it.
 */
export type StoreResult = { readonly outcome: 'STORED'; readonly cas: bigint } | { readonly outcome: 'NOT_STORED' | 'EXISTS' | 'NOT_FOUND' };
export type RemoveResult = { readonly outcome: 'DELETED' } | { readonly outcome: 'EXISTS' | 'NOT_FOUND' };
export type TouchResult = { readonly outcome: 'TOUCHED'; readonly item: Item } | { readonly outcome: 'NOT_FOUND' };
export type AdjustResult = { readonly outcome: 'ADJUSTED'; readonly value: bigint; readonly cas: bigint } | { readonly outcome: 'EXISTS' | 'NOT_FOUND' };

/** A change of a watched key, local or replicated, once durable. */
export type WatchEvent =
  | { readonly kind: 'change'; readonly key: string; readonly value: Uint8Array }
  | { readonly kind: 'deleted'; readonly key: string }
  | { readonly kind: 'truncated' };

/** A started watch: events flow to the listener given to WATCH's feed until `stop()`. */
export interface WatchFeed {
  readonly prefix: string;
  start(listener: (event: WatchEvent) => void): void;
  stop(): void;
}

export interface ClientInfo {
  readonly id: number;
  /** `ip:port` of the peer. */
  readonly addr: string;
  readonly ageSeconds: number;
  readonly idleSeconds: number;
}

/** The result each command resolves to; the adapter turns it into protocol bytes. */
export interface ResultOf {
  GET: Uint8Array | undefined;
  SET: void;
  /** true when a live key was deleted, false when it was absent. */
  DEL: boolean;
  INCR: bigint;
  APPEND: Uint8Array;
  PREPEND: Uint8Array;
  /** In request order; undefined where the key is absent. */
  MGET: readonly (Uint8Array | undefined)[];
  MSET: void;
  EXISTS: number;
  SCAN: readonly string[];
  DBSIZE: number;
  MEMORY: number;
  PING: string | undefined;
  ECHO: string;
  /** `key:value` lines in a stable order. */
  STATS: readonly (readonly [string, string])[];
  INFO: readonly (readonly [string, string])[];
  VERSION: string;
  TRUNCATE: void;
  SHUTDOWN: void;
  CLIENT_LIST: readonly ClientInfo[];
  /** Lowercase hex of the reference Merkle root (64 zeros when empty). */
  HASH: string;
  SYNC: void;
  REPLICATE: { readonly enabled: boolean; readonly nodes: number };
  /** The encoded reply to the session message. */
  AE: Uint8Array;
  WATCH: WatchFeed;
  STORE: StoreResult;
  REMOVE: RemoveResult;
  TOUCH: TouchResult;
  ADJUST: AdjustResult;
  /** In request order; undefined where the key is absent or expired. */
  LOOKUP: readonly (Item | undefined)[];
}

export type CommandOf<N extends CommandName> = Extract<Command, { name: N }>;

/**
 * Commands that change the keyspace. Their results arrive once the change is durable; every
 * other command answers from committed state at once. A connection uses this to make its reads
 * wait for its own earlier writes (SYNC counts: a read after it must see what it brought in).
 */
export const WRITE_COMMANDS: ReadonlySet<CommandName> = new Set<CommandName>([
  'SET',
  'DEL',
  'INCR',
  'APPEND',
  'PREPEND',
  'MSET',
  'TRUNCATE',
  'SYNC',
  'STORE',
  'REMOVE',
  'TOUCH',
  'ADJUST',
]);
