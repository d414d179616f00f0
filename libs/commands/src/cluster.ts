import { entryBytes } from '#crdt';
import { KvError } from './errors.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { referenceMerkleRoot } from './reference-hash.js';

/** HASH, SYNC, REPLICATE. A standalone node has no replication and no peers to sync with. */
export function clusterCommands({ store, cluster }: CommandDeps): Handlers<'HASH' | 'SYNC' | 'REPLICATE'> {
  return {
    HASH: ({ pattern }) => {
      const prefix = pattern === undefined || pattern === '*' ? '' : pattern;
      const leaves = store.liveEntries(prefix).map(([key, entry]) => [Buffer.from(key, 'utf8'), entryBytes(entry)!] as const);
      return referenceMerkleRoot(leaves);
    },
    SYNC: () => {
      throw new KvError(
        'UNAVAILABLE',
        cluster
          ? 'SYNC is not available yet: anti-entropy sessions are not implemented in this version'
          : 'SYNC is not available: this node runs standalone (start it with --nats <url> to join a cluster)',
      );
    },
    REPLICATE: async ({ action }) => {
      if (action !== 'status') {
        if (!cluster) {
          if (action === 'disable') return { enabled: false, nodes: 1 };
          throw new KvError('UNAVAILABLE', 'REPLICATE enable needs a cluster: start the node with --nats <url>');
        }
        await cluster.setReplication(action === 'enable');
      }
      return cluster ? { enabled: cluster.replicating, nodes: cluster.liveNodes } : { enabled: false, nodes: 1 };
    },
  };
}
