import { startNode, type NodeProcess, TextClient } from '#testing';

/** A started node with a line client on its MerkleKV port. */
export interface ClusterNode {
  readonly process: NodeProcess;
  readonly client: TextClient;
  /** One request, one reply line. */
  send(line: string): Promise<string>;
  /** INFO as a map. */
  info(): Promise<Map<string, string>>;
}

/**
 * Starts a node on `natsUrl` with RocksDB; the client connects to the `--host` given in
 * `extraArgs` (default 127.0.0.1), and `launcher` runs it, e.g., in a network namespace.
 */
export async function startClusterNode(
  natsUrl: string,
  nodeId: string,
  extraArgs: readonly string[] = [],
  dataDir?: string,
  env?: Readonly<Record<string, string>>,
  launcher?: readonly string[],
): Promise<ClusterNode> {
  const process = await startNode({
    args: ['--nats', natsUrl, '--node-id', nodeId, '--engine', 'rocksdb', ...extraArgs],
    ...(dataDir ? { dataDir } : {}),
    ...(env ? { env } : {}),
    ...(launcher ? { launcher } : {}),
  });
  const hostFlag = extraArgs.indexOf('--host');
  const host = hostFlag === -1 ? undefined : extraArgs[hostFlag + 1];
  const client = await TextClient.connect(process.ports.merklekv, host === undefined ? {} : { host });
  return {
    process,
    client,
    send: (line) => client.request(line),
    info: () => client.info(),
  };
}

export async function stopClusterNode(node: ClusterNode | undefined): Promise<void> {
  if (!node) return;
  await node.client.close();
  await node.process[Symbol.asyncDispose]();
}
