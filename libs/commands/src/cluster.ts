import { entryBytes } from '#crdt';
import { KvError } from './errors.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { ReferenceMerkleBuilder } from './reference-hash.js';

const STANDALONE = 'this node runs standalone (start it with --nats <url> to join a cluster)';

/**
 * HASH, SYNC, REPLICATE, AE. A standalone node syncs with a peer as a clustered one does; it has
 * no replication to turn on or off, and REPLICATE answers as the reference server's does (OK,
 * and a status of disabled).
 */
export function clusterCommands({ store, cluster, peerSync }: CommandDeps): Handlers<'HASH' | 'SYNC' | 'REPLICATE' | 'AE'> {
  return {
    HASH: ({ pattern }) => {
      const prefix = pattern === undefined || pattern === '*' ? '' : pattern;
      const builder = new ReferenceMerkleBuilder();
      for (const [key, entry] of store.liveEntries(prefix)) builder.add(Buffer.from(key, 'utf8'), entryBytes(entry)!);
      return builder.root();
    },
    SYNC: ({ host, port }) => {
      if (!peerSync) throw new KvError('UNAVAILABLE', 'SYNC is not available in this process');
      return peerSync.sync(host, port);
    },
    AE: ({ message }) => {
      if (!cluster) throw new KvError('UNAVAILABLE', `anti-entropy is not available: ${STANDALONE}`);
      return cluster.exchange(message);
    },
    REPLICATE: async ({ action }) => {
      if (!cluster) return { enabled: false, nodes: 1 };
      if (action !== 'status') await cluster.setReplication(action === 'enable');
      return { enabled: cluster.replicating, nodes: cluster.liveNodes };
    },
  };
}
