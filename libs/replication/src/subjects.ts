import { ReplicationError } from './errors.js';

/**
 * NATS names of one replication group (a "cluster" on a shared NATS). Cluster names and node
 * ids are validated by the config as 1-64 of `[A-Za-z0-9_-]`, which makes every name below a
 * valid subject token, stream name and consumer name (none may contain '.', '*', '>' or spaces);
 * they are checked again here because a bad name would otherwise surface as an obscure
 * JetStream error, or worse, as a wildcard.
 *
 * - stream `MERKLEKV_<c>` holds subjects `merklekv.<c>.changes.>`
 * - changes of shard `s`: `merklekv.<c>.changes.<s>` (decimal, no leading zeros)
 * - membership announcements (core NATS, not stored): `merklekv.<c>.members`
 * - each node's durable consumer: `node_<nodeId>`
 * - split deployments: requests for shard `s` of store group `g`: `merklekv.<c>.kv.<g>.<s>`;
 *   watch events pushed to a gateway: `merklekv.<c>.watch.<inbox>`
 */
export interface ReplicationSubjects {
  readonly cluster: string;
  readonly stream: string;
  /** The stream's subject filter, `merklekv.<c>.changes.>`. */
  readonly changesWildcard: string;
  readonly members: string;
  changes(shard: number): string;
  /** The shard of a change subject of this cluster, or undefined for any other subject. */
  shardOf(subject: string): number | undefined;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
/** The configured maximum shard count (see `shards` in #config). */
export const MAX_SHARDS = 4096;

export function assertName(what: string, name: string): void {
  if (!NAME.test(name)) {
    throw new ReplicationError('BAD_OPTIONS', `${what} must be 1-64 of A-Z a-z 0-9 _ -, got ${JSON.stringify(name)}`);
  }
}

export function assertShard(shard: number): void {
  if (!Number.isInteger(shard) || shard < 0 || shard >= MAX_SHARDS) {
    throw new ReplicationError('BAD_RECORD', `shard must be an integer in [0, ${MAX_SHARDS}), got ${shard}`);
  }
}

export function replicationSubjects(cluster: string): ReplicationSubjects {
  assertName('cluster name', cluster);
  const prefix = `merklekv.${cluster}.changes.`;
  return {
    cluster,
    stream: `MERKLEKV_${cluster}`,
    changesWildcard: `${prefix}>`,
    members: `merklekv.${cluster}.members`,
    changes(shard: number): string {
      assertShard(shard);
      return prefix + String(shard);
    },
    shardOf(subject: string): number | undefined {
      if (!subject.startsWith(prefix)) return undefined;
      const token = subject.slice(prefix.length);
      if (!/^(0|[1-9][0-9]{0,3})$/.test(token)) return undefined;
      const shard = Number(token);
      return shard < MAX_SHARDS ? shard : undefined;
    },
  };
}

/** The durable consumer of one node. */
export function consumerName(nodeId: string): string {
  assertName('node id', nodeId);
  return `node_${nodeId}`;
}

/** Where a gateway of store group `group` asks for shard `shard` (split deployments). */
export function shardRequestSubject(cluster: string, group: string, shard: number): string {
  assertName('cluster name', cluster);
  assertName('store group', group);
  assertShard(shard);
  return `merklekv.${cluster}.kv.${group}.${shard}`;
}

/** The subjects store-shard processes may push watch events to; a gateway's inbox is one token more. */
export function watchSubjectPrefix(cluster: string): string {
  assertName('cluster name', cluster);
  return `merklekv.${cluster}.watch.`;
}
