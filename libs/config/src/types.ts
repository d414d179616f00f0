import { type PasswordHash } from './secrets.js';

/** Where the store keeps its data. `memory` keeps nothing across restarts. */
export type EngineKind = 'memory' | 'rocksdb';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A MerkleKV text-protocol endpoint of another node (reference `[anti_entropy] peer_list`). */
export interface PeerAddress {
  /** Hostname or IP address, without IPv6 brackets. */
  readonly host: string;
  readonly port: number;
}

export interface NatsConfig {
  /** Server URLs as given (`nats://h:4222`, `tls://h:4222`, `h:4222`); never empty. */
  readonly servers: readonly string[];
  /**
   * The replication group: nodes on the same NATS with the same cluster name replicate to each
   * other; other names are invisible. A NATS subject/stream token: `[A-Za-z0-9_-]{1,64}`.
   */
  readonly cluster: string;
  /** A NATS `.creds` file (JWT + nkey seed), absolute. */
  readonly credsFile?: string;
  /** A NATS auth token. Secret: never log it. */
  readonly token?: string;
  /** NATS user and password. The password is secret: never log it. */
  readonly user?: { readonly name: string; readonly password: string };
  /** A file holding an nkey seed, absolute. */
  readonly nkeyFile?: string;
  /** TLS to the NATS servers; absolute paths. Present when any of the three is set. */
  readonly tls?: { readonly caFile?: string; readonly certFile?: string; readonly keyFile?: string };
}

/** What a permission lets its user do with keys under its prefix; each level includes the ones before it. */
export type Access = 'read' | 'write' | 'admin';

/** Access to every key that starts with `prefix` (`""`: every key). */
export interface Permission {
  readonly prefix: string;
  readonly access: Access;
}

/** One `[[users]]` entry. Holds hashes only, never a password or a token. */
export interface UserConfig {
  readonly name: string;
  readonly password?: PasswordHash;
  /** SHA-256 digests of the user's bearer tokens. */
  readonly tokens: readonly Buffer[];
  readonly permissions: readonly Permission[];
}

/** TLS on the client listeners; absolute paths. */
export interface ListenerTls {
  readonly certFile: string;
  readonly keyFile: string;
  /** Set: clients must present a certificate this CA signed. */
  readonly caFile?: string;
}

/** The resolved configuration of one node: every value typed, validated and defaulted. */
export interface NodeConfig {
  /**
   * This node's id, when configured. Absent means "the node decides": it generates one and keeps
   * it in the data dir so that it survives restarts. `[A-Za-z0-9_-]{1,64}` because it becomes a
   * NATS subject token and a durable consumer name.
   */
  readonly nodeId?: string;
  /** Address every listener binds. */
  readonly host: string;
  /** MerkleKV text protocol; 0 asks the OS for a free port. */
  readonly port: number;
  /** HTTP/JSON API, health and metrics; 0 = a free port; `null` = no HTTP listener. */
  readonly httpPort: number | null;
  /** memcached text protocol; 0 = a free port; `null` = no memcached listener. */
  readonly memcachedPort: number | null;
  readonly engine: EngineKind;
  /** Absolute. Holds the RocksDB files and the generated node id. */
  readonly dataDir: string;
  /** Number of keyspace shards, 1-4096. Must be equal on every node of a cluster. */
  readonly shards: number;
  /** Split deployments (gateway and store-shard processes); an all-in-one node ignores it. */
  readonly split: {
    /** Store-shard processes serve their shards under it; gateways of the same group route to them. */
    readonly group: string;
    /** The shards a store-shard process serves, ascending; all of them unless configured. */
    readonly hostedShards: readonly number[];
  };
  /**
   * fsync every commit group. Acknowledged writes survive `kill -9` either way (they are in the
   * OS page cache); with fsync they also survive power loss, at a latency cost.
   */
  readonly syncWrites: boolean;
  /** Bytes for caching stored data (RocksDB's block cache and decoded hot entries). */
  readonly cacheBytes: number;
  /** Largest value any protocol may store, in bytes. */
  readonly maxValueBytes: number;
  /** Seconds a client connection may stay idle before it is closed; 0: no limit. */
  readonly clientIdleTimeoutSeconds: number;
  /** Client connections each listener holds at most; 0: no limit. */
  readonly maxConnections: number;
  /** Users allowed in; empty: no authentication (every client may do everything). */
  readonly users: readonly UserConfig[];
  /** Present: every client listener speaks TLS only. */
  readonly tls?: ListenerTls;
  /** Start on a non-loopback address without users (protected mode off). */
  readonly insecure: boolean;
  /** JSON lines to stderr, or to `file` (absolute) when set. */
  readonly log: { readonly level: LogLevel; readonly file?: string };
  /** Undefined: standalone node, no replication. */
  readonly nats?: NatsConfig;
  readonly replication: {
    /** Publish local changes and apply remote ones (needs `nats`). Runtime: `REPLICATE`. */
    readonly enabled: boolean;
    /** The reference server's MQTT topic prefix, as given; it names the cluster when `nats.cluster` is unset. */
    readonly topicPrefix?: string;
  };
  readonly antiEntropy: {
    readonly enabled: boolean;
    /** Seconds between sync rounds (the node adds jitter). */
    readonly intervalSeconds: number;
    /** Static peers to sync with over the text protocol, besides those NATS membership finds. */
    readonly peers: readonly PeerAddress[];
    /** How old a tombstone must be before it may be collected (see #anti-entropy tombstones.ts). */
    readonly tombstoneGraceSeconds: number;
    /** Bytes one session may send and receive before it stops (the next one carries on). */
    readonly sessionBudgetBytes: number;
  };
}
