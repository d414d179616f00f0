/** Injection token of the node's resolved {@link NodeConfig}. */
export const NODE_CONFIG = Symbol('NODE_CONFIG');

/** Injection token of the {@link ClusterPort} a clustered node provides (absent when standalone). */
export const CLUSTER_PORT = Symbol('CLUSTER_PORT');

/** Injection token of the {@link CommandPort} the protocol adapters call: a local executor or a gateway's shard router. */
export const COMMANDS = Symbol('COMMANDS');

/** Injection token of what `GET /v1/cluster` shows: a {@link ClusterViewSource}. */
export const CLUSTER_VIEW = Symbol('CLUSTER_VIEW');

export interface ClusterViewSource {
  view(): object | Promise<object>;
}

/** Injection token of the {@link PeerSync} a standalone node runs SYNC with (a clustered node's is its cluster port). */
export const PEER_SYNC = Symbol('PEER_SYNC');
