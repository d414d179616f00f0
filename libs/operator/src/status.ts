import { duration } from './progress.js';

/** The parts of `GET /v1/cluster` the status table shows (the full document is in the README). */
interface ClusterDocument {
  readonly mode?: string;
  readonly cluster?: string;
  readonly node: { readonly id: string; readonly connected?: boolean; readonly replicating?: boolean; readonly outboxDepth?: number };
  readonly peers: readonly { readonly id: string; readonly state: string; readonly outboxDepth?: number; readonly addresses?: Readonly<Record<string, string>> }[];
  readonly antiEntropy?: { readonly sessions?: readonly AntiEntropySession[] };
}

interface AntiEntropySession {
  readonly peer: string;
  readonly at: string;
  readonly result: string;
  readonly keysRepaired?: number;
}

export interface StatusRow {
  readonly node: string;
  readonly state: string;
  readonly address: string;
  /** Seconds behind on that peer's changes, as this node measures it; undefined for itself or when unknown. */
  readonly lagSeconds: number | undefined;
  readonly outbox: number | undefined;
  readonly lastAntiEntropy: string;
}

export interface ClusterStatus {
  readonly cluster: string;
  readonly askedNode: string;
  readonly rows: readonly StatusRow[];
}

const LAG = /^merklekv_replication_lag_seconds\{peer="([^"]*)"\} (\S+)$/gm;

/** Lag per peer from a Prometheus text exposition. */
export function lagByPeer(metrics: string): Map<string, number> {
  const lags = new Map<string, number>();
  for (const [, peer, value] of metrics.matchAll(LAG)) lags.set(peer!, Number(value));
  return lags;
}

/** The status rows: the asked node first, then its peers as it sees them. */
export function statusRows(view: ClusterDocument, lags: ReadonlyMap<string, number>, now: number, selfAddress: string): ClusterStatus {
  const sessions = new Map<string, AntiEntropySession>();
  for (const session of view.antiEntropy?.sessions ?? []) {
    const known = sessions.get(session.peer);
    if (!known || Date.parse(session.at) > Date.parse(known.at)) sessions.set(session.peer, session);
  }
  const describe = (peer: string): string => {
    const session = sessions.get(peer);
    if (!session) return '-';
    const repaired = session.keysRepaired ? `, ${session.keysRepaired} repaired` : '';
    return `${duration(Math.max(0, now - Date.parse(session.at)) / 1000)} ago (${session.result}${repaired})`;
  };
  const self: StatusRow = {
    node: `${view.node.id} (this node)`,
    state: view.mode === 'standalone' ? 'standalone' : view.node.connected === false ? 'disconnected' : view.node.replicating === false ? 'not replicating' : 'alive',
    address: selfAddress,
    lagSeconds: undefined,
    outbox: view.node.outboxDepth,
    lastAntiEntropy: '-',
  };
  const peers = view.peers.map(
    (peer): StatusRow => ({
      node: peer.id,
      state: peer.state,
      address: peer.addresses?.http ?? peer.addresses?.merklekv ?? '-',
      lagSeconds: lags.get(peer.id),
      outbox: peer.outboxDepth,
      lastAntiEntropy: describe(peer.id),
    }),
  );
  return { cluster: view.cluster ?? '-', askedNode: view.node.id, rows: [self, ...peers] };
}

/** Fetches a node's view of its cluster and its lag metrics over HTTP. */
export async function fetchStatus(host: string, httpPort: number, now = Date.now()): Promise<ClusterStatus> {
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${httpPort}`;
  const [view, metrics] = await Promise.all([getText(`${base}/v1/cluster`), getText(`${base}/metrics`)]);
  return statusRows(JSON.parse(view) as ClusterDocument, lagByPeer(metrics), now, `${host}:${httpPort}`);
}

export async function getText(url: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const reason = err instanceof Error && err.cause instanceof Error ? err.cause : err;
    throw new Error(`cannot reach ${url}: ${reason instanceof Error ? reason.message : String(reason)}`, { cause: err });
  }
  const body = await response.text();
  if (!response.ok) throw new Error(`${url} answered ${response.status}: ${body.slice(0, 200)}`);
  return body;
}

/** The rows as an aligned text table. */
export function formatStatus(status: ClusterStatus): string {
  const header = ['NODE', 'STATE', 'HTTP', 'LAG', 'OUTBOX', 'LAST ANTI-ENTROPY'];
  const cells = status.rows.map((row) => [
    row.node,
    row.state,
    row.address,
    row.lagSeconds === undefined ? '-' : `${row.lagSeconds.toFixed(3)}s`,
    row.outbox === undefined ? '-' : String(row.outbox),
    row.lastAntiEntropy,
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => row[i]!.length)));
  const line = (row: readonly string[]): string =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [`cluster ${status.cluster}, as node ${status.askedNode} sees it`, line(header), ...cells.map(line)].join('\n') + '\n';
}
