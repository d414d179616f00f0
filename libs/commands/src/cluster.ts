import { entryBytes } from '#crdt';
import { KvError } from './errors.js';
import { type CommandDeps, type Handlers } from './handlers.js';
import { ReferenceMerkleBuilder } from './reference-hash.js';

const STANDALONE = 'this node runs standalone (start it with --nats <url> to join a cluster)';

/** HASH, SYNC, REPLICATE, AE. A standalone node has no replication and no peers to sync with. */
export function clusterCommands({ store, cluster }: CommandDeps): Handlers<'HASH' | 'SYNC' | 'REPLICATE' | 'AE'> {
  return {
    HASH: ({ pattern }) => {
      const prefix = pattern === undefined || pattern === '*' ? '' : pattern;
      const builder = new ReferenceMerkleBuilder();
      for (const [key, entry] of store.liveEntries(prefix)) builder.add(Buffer.from(key, 'utf8'), entryBytes(entry)!);
      return builder.root();
    },
    SYNC: ({ host, port }) => {
      if (!cluster) throw new KvError('UNAVAILABLE', `SYNC is not available: ${STANDALONE}`);
      return cluster.sync(host, port);
    },
    AE: ({ message }) => {
      if (!cluster) throw new KvError('UNAVAILABLE', `anti-entropy is not available: ${STANDALONE}`);
      return cluster.exchange(message);
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
