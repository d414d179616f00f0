/** Injection token of the node's resolved {@link NodeConfig}. */
export const NODE_CONFIG = Symbol('NODE_CONFIG');

/** Injection token of the {@link ClusterPort} a clustered node provides (absent when standalone). */
export const CLUSTER_PORT = Symbol('CLUSTER_PORT');
