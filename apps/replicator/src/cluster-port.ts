import { type ClusterPort, KvError } from '#commands';
import { type Replicator } from '#replication';

/** What anti-entropy adds to a node's cluster port: INFO lines, `/v1/cluster` fields, and the SYNC and AE commands. */
export type ClusterExtension = Pick<ClusterPort, 'describe' | 'view' | 'exchange'> & {
  /** SYNC host port; what it resolves with is the extension's own business. */
  sync(host: string, port: number): Promise<unknown>;
};

/**
 * The cluster port the command layer, the shard server and the dashboard use: the replicator's
 * state and REPLICATE, with what `extension` adds. Without one (a store-shard process), SYNC
 * and AE answer UNAVAILABLE.
 */
export function clusterPort(replicator: Replicator, extension?: ClusterExtension): ClusterPort {
  const unavailable = (): Promise<never> => Promise.reject(new KvError('UNAVAILABLE', 'anti-entropy does not run on this node'));
  return {
    get replicating() {
      return replicator.replicating;
    },
    get liveNodes() {
      return replicator.liveNodes;
    },
    setReplication: (enabled) => replicator.setReplication(enabled),
    describe: () => [...replicator.describe(), ...(extension?.describe() ?? [])],
    view: () => ({ ...replicator.view(), ...(extension ? { antiEntropy: extension.view() } : {}) }),
    sync: (host, port) => (extension ? extension.sync(host, port).then(() => undefined) : unavailable()),
    exchange: (message) => (extension ? extension.exchange(message) : unavailable()),
  };
}
