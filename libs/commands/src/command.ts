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
  /** Signs the connection in as a configured user (see access/access-control.ts). */
  | { readonly name: 'AUTH'; readonly user: string; readonly password: string };

export type CommandName = Command['name'];

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
  AUTH: void;
}

export type CommandOf<N extends CommandName> = Extract<Command, { name: N }>;

/**
 * Commands that change the keyspace. Their results arrive once the change is durable; every
 * other command answers from committed state at once. A connection uses this to make its reads
 * wait for its own earlier writes (SYNC counts: a read after it must see what it brought in).
 */
export const WRITE_COMMANDS: ReadonlySet<CommandName> = new Set<CommandName>(['SET', 'DEL', 'INCR', 'APPEND', 'PREPEND', 'MSET', 'TRUNCATE', 'SYNC']);
