import { eventually, type NatsServer, startNatsServer, TextClient } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from '../support/cluster.js';

/** Every fault scenario's nodes repair by anti-entropy within seconds, not the default 30 s. */
export const FAST_ANTI_ENTROPY = ['--anti-entropy-interval', '1'];
/** Generous: the suite asserts that nodes converge, not how fast (that figure is printed). */
export const CONVERGE_DEADLINE_MS = 120_000;

const BATCH = 5;
/** Pacing between batches, so a scenario writes hundreds to a few thousand keys, not a flood. */
const PAUSE_MS = 40;
const GET_CHUNK = 500;

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One connection's stream of writes of fresh keys (`<prefix>-<n>`) in small pipelined batches,
 * recording in `acked` every write answered OK. Through a fault the connection may die or a
 * write may fail: the writer reconnects (through `connect`, which reaches the node's current
 * incarnation) and goes on; a write without an OK is never counted.
 */
export class Writer {
  readonly #done: Promise<void>;
  #running = true;
  #failures = 0;

  constructor(
    private readonly prefix: string,
    private readonly connect: () => Promise<TextClient>,
    private readonly acked: Map<string, string>,
  ) {
    this.#done = this.#run();
  }

  /** Writes that got no OK (connection lost, error reply). */
  get failures(): number {
    return this.#failures;
  }

  /** Stops after the batch in flight. */
  async stop(): Promise<void> {
    this.#running = false;
    await this.#done;
  }

  async #run(): Promise<void> {
    let client: TextClient | undefined;
    for (let n = 0; this.#running; ) {
      const batch: [string, string][] = [];
      let answered = 0;
      try {
        client ??= await this.connect();
        for (let i = 0; i < BATCH; i++, n++) batch.push([`${this.prefix}-${n}`, `v${n}`]);
        for (const [key, value] of batch) client.send(`SET ${key} ${value}`);
        for (const [key, value] of batch) {
          const reply = await client.readLine(10_000);
          answered++;
          if (reply === 'OK') this.acked.set(key, value);
          else this.#failures++;
        }
      } catch {
        this.#failures += batch.length - answered;
        await client?.close();
        client = undefined;
      }
      await sleep(PAUSE_MS);
    }
    await client?.close();
  }
}

/** Waits until `writes` holds at least `count` more entries than now. */
export async function moreAcked(writes: ReadonlyMap<string, string>, count: number, what: string): Promise<void> {
  const target = writes.size + count;
  await eventually(`${count} more acknowledged writes ${what}`, () => writes.size >= target, 60_000);
}

/** The acknowledged keys `node` does not hold with their value. */
export async function missingOn(node: ClusterNode, acked: ReadonlyMap<string, string>): Promise<string[]> {
  const entries = [...acked];
  const missing: string[] = [];
  for (let i = 0; i < entries.length; i += GET_CHUNK) {
    const chunk = entries.slice(i, i + GET_CHUNK);
    for (const [key] of chunk) node.client.send(`GET ${key}`);
    const replies = await node.client.readLines(chunk.length, 30_000);
    chunk.forEach(([key, value], j) => {
      if (replies[j] !== `VALUE ${value}`) missing.push(key);
    });
  }
  return missing;
}

export async function waitForPeers(nodes: readonly ClusterNode[]): Promise<void> {
  await eventually(
    'every node to see all its peers alive',
    async () => (await Promise.all(nodes.map((n) => n.info()))).every((i) => i.get('peers_alive') === String(nodes.length - 1)),
    60_000,
  );
}

/**
 * Waits until every node answers the same HASH and the first holds every acknowledged write
 * (equal hashes then mean all do), then checks each node: returns the milliseconds it took and
 * the acknowledged writes missing anywhere (the test expects none).
 */
async function converge(nodes: readonly ClusterNode[], acked: ReadonlyMap<string, string>): Promise<{ ms: number; lost: string[] }> {
  const started = Date.now();
  let converged = true;
  try {
    await eventually(
      'equal HASH on every node, holding every acknowledged write',
      async () => new Set(await Promise.all(nodes.map((n) => n.send('HASH')))).size === 1 && (await missingOn(nodes[0]!, acked)).length === 0,
      CONVERGE_DEADLINE_MS,
    );
  } catch {
    converged = false;
  }
  const ms = Date.now() - started;
  const lost = new Set<string>();
  for (const node of nodes) for (const key of await missingOn(node, acked)) lost.add(key);
  if (!converged && lost.size === 0) throw new Error(`the nodes hold every acknowledged write but their HASHes still differ after ${CONVERGE_DEADLINE_MS} ms`);
  return { ms, lost: [...lost] };
}

/**
 * The end of every scenario: stops the writers, waits for the nodes to converge, prints the
 * scenario's figures on one line (jest shows it as the suite runs) and expects nothing lost.
 */
export async function expectConverged(scenario: string, nodes: readonly ClusterNode[], writers: Writer[], acked: ReadonlyMap<string, string>): Promise<void> {
  await Promise.all(writers.splice(0).map((w) => w.stop()));
  const { ms, lost } = await converge(nodes, acked);
  process.stdout.write(`fault ${scenario}: ${acked.size} writes acknowledged, ${lost.length} lost, converged in ${(ms / 1000).toFixed(1)} s\n`);
  expect(lost).toEqual([]);
}

/** Cleanup whatever a scenario got to start, after success or failure. */
export async function stopAll(writers: readonly Writer[], nodes: readonly (ClusterNode | undefined)[]): Promise<void> {
  await Promise.all(writers.map((w) => w.stop()));
  await Promise.all(nodes.map(stopClusterNode));
}

/**
 * A scenario on one nats-server: nodes `ids` with fast anti-entropy, once they see each other,
 * and a writer on each of the first `writing` of them (default all); `fault` does its harm while
 * they write, then the nodes must converge with every acknowledged write.
 */
export async function faultUnderLoad(
  scenario: string,
  ids: readonly string[],
  fault: (cluster: { nats: NatsServer; nodes: readonly ClusterNode[]; acked: ReadonlyMap<string, string> }) => Promise<void>,
  writing = ids.length,
): Promise<void> {
  await using nats = await startNatsServer();
  const acked = new Map<string, string>();
  const nodes: ClusterNode[] = [];
  const writers: Writer[] = [];
  try {
    nodes.push(...(await Promise.all(ids.map((id) => startClusterNode(nats.url, id, FAST_ANTI_ENTROPY)))));
    await waitForPeers(nodes);
    writers.push(...nodes.slice(0, writing).map((node, i) => new Writer(ids[i]!, () => TextClient.connect(node.process.ports.merklekv), acked)));
    await fault({ nats, nodes, acked });
    await expectConverged(scenario, nodes, writers, acked);
  } finally {
    await stopAll(writers, nodes);
  }
}
