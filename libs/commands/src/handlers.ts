import { type Keyspace } from '#store';
import { type ClientRegistry } from './clients.js';
import { type CommandName, type CommandOf, type ResultOf } from './command.js';
import { type CommandStats } from './stats.js';

/** A command's result, synchronous when it needs no I/O (reads), a promise otherwise. */
export type Reply<N extends CommandName> = ResultOf[N] | Promise<ResultOf[N]>;

export type Handlers<N extends CommandName> = { readonly [K in N]: (command: CommandOf<K>) => Reply<K> };

/** What the node around the command layer provides. */
export interface ServerPort {
  readonly version: string;
  /** ms since the Unix epoch when the node started. */
  readonly startedAt: number;
  /** Begins a graceful shutdown after the current replies are written. */
  requestShutdown(): void;
  /** Extra `key:value` lines for INFO (node id, engine, cluster state...). */
  describe(): readonly (readonly [string, string])[];
}

export interface Limits {
  /** Largest value accepted by SET/APPEND/PREPEND/MSET, in bytes. */
  readonly maxValueBytes: number;
}

/** SYNC host port: another server's data pulled into this store. */
export interface PeerSync {
  /**
   * Resolves once this store has converged with the node at that address (anti-entropy, both
   * ways), or holds every key and value of a server without anti-entropy (SCAN and GET).
   */
  sync(host: string, port: number): Promise<void>;
}

/**
 * What a clustered node adds: replication control and anti-entropy over the text protocol. A
 * standalone node has none; REPLICATE there answers as the reference server does, and AE
 * answers UNAVAILABLE.
 */
export interface ClusterPort extends PeerSync {
  /** Whether this node currently publishes and applies changes. */
  readonly replicating: boolean;
  /** Live nodes of the cluster, this one included. */
  readonly liveNodes: number;
  setReplication(enabled: boolean): Promise<void>;
  /** `key:value` lines for INFO. */
  describe(): readonly (readonly [string, string])[];
  /** The cluster as `/v1/cluster` shows it (JSON). */
  view(): object;
  /** AE: answers one anti-entropy session message that reached this node over the text protocol. */
  exchange(message: Uint8Array): Promise<Uint8Array>;
}

export interface CommandDeps {
  /** The whole store in one process; one shard of it behind a store-shard process's subject. */
  readonly store: Keyspace;
  readonly cluster?: ClusterPort;
  /** What SYNC runs: the cluster port of a clustered node, a standalone node's own sessions. Absent: SYNC answers UNAVAILABLE. */
  readonly peerSync?: PeerSync;
  readonly stats: CommandStats;
  readonly clients: ClientRegistry;
  readonly server: ServerPort;
  readonly limits: Limits;
  readonly now?: () => number;
  /** Why the node refuses new work now (memory pressure), or undefined; control commands still run. */
  readonly refusal?: () => string | undefined;
}
