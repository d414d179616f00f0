import { eventually, type NatsServer, type NodeProcess, startNatsServer, startNode, startStoreShard, type StoreShardProcess, TextClient } from '#testing';
import { keyHash } from '#telemetry';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';
import { OtlpReceiver, type ReceivedSpan } from './support/otlp.js';

const TRACE_DEADLINE_MS = 20_000;

/** Whether `trace` holds a span named `name` from node `nodeId` yet. */
function has(trace: readonly ReceivedSpan[], name: string, nodeId: string): boolean {
  return trace.some((s) => s.name === name && s.nodeId === nodeId);
}

/** The span of `trace` named `name` on node `nodeId` (exactly one). */
function only(trace: readonly ReceivedSpan[], name: string, nodeId: string): ReceivedSpan {
  const found = trace.filter((s) => s.name === name && s.nodeId === nodeId);
  if (found.length !== 1) throw new Error(`expected one ${name} on ${nodeId}, found ${found.length}: ${JSON.stringify(trace.map((s) => [s.name, s.nodeId]))}`);
  return found[0]!;
}

function expectChild(child: ReceivedSpan, parent: ReceivedSpan): void {
  expect({ name: child.name, parent: child.parentSpanId }).toEqual({ name: child.name, parent: parent.spanId });
}

/**
 * A real nats-server, an in-process OTLP/HTTP collector, three nodes exporting to it; later a
 * split deployment (a gateway and a store-shard process) joins the same cluster.
 */
describe('one write is one trace across every process it touched', () => {
  let nats: NatsServer;
  let otlp: OtlpReceiver;
  let nodes: ClusterNode[];
  // Short batch delays so that spans arrive while the test waits, not seconds later.
  const env = (): Record<string, string> => ({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' });

  beforeAll(async () => {
    [nats, otlp] = await Promise.all([startNatsServer(), OtlpReceiver.start()]);
    nodes = await Promise.all(['a', 'b', 'c'].map((id) => startClusterNode(nats.url, id, [], undefined, env())));
    await eventually('every node to see two live peers', async () => (await Promise.all(nodes.map((n) => n.info()))).every((i) => i.get('peers_alive') === '2'));
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map(stopClusterNode));
    await nats?.[Symbol.asyncDispose]();
    await otlp?.[Symbol.asyncDispose]();
  });

  it("links a SET on a to the merges on b and c: command, apply, publish, consume, merge", async () => {
    const [a] = nodes;
    expect(await a!.send('SET traced:one a value that must not be recorded')).toBe('OK');
    const command = await otlp.waitForSpan('the SET span of a', (s) => s.name === 'merklekv SET' && s.attributes['merklekv.key.hash'] === keyHash('traced:one'));
    expect(command).toMatchObject({ service: 'merklekv-node', nodeId: 'a', parentSpanId: '' });
    expect(command.attributes).toMatchObject({ 'merklekv.protocol': 'merklekv', 'merklekv.command': 'SET' });

    // Each process exports on its own schedule: a's publish span may arrive after the merges' do.
    await eventually("a's publish span and the merge spans of b and c in the same trace", () => {
      const trace = otlp.trace(command.traceId);
      return has(trace, 'replication.publish', 'a') && ['b', 'c'].every((id) => has(trace, 'replication.merge', id));
    }, TRACE_DEADLINE_MS);
    const trace = otlp.trace(command.traceId);
    const apply = only(trace, 'shard.apply', 'a');
    const publish = only(trace, 'replication.publish', 'a');
    expectChild(apply, command);
    expectChild(publish, apply);
    for (const id of ['b', 'c']) {
      const consume = only(trace, 'replication.consume', id);
      expectChild(consume, publish);
      expectChild(only(trace, 'replication.merge', id), consume);
      expect(consume.service).toBe('merklekv-node');
    }
    expect(JSON.stringify(trace)).not.toMatch(/must not be recorded|traced:one/);
    expect(otlp.refused).toEqual([]);
  });

  describe('with a split deployment in the cluster', () => {
    let shard: StoreShardProcess;
    let gateway: NodeProcess;
    let client: TextClient;
    beforeAll(async () => {
      [shard, gateway] = await Promise.all([
        startStoreShard({ args: ['--nats', nats.url, '--node-id', 's1'], env: env() }),
        startNode({ role: 'gateway', args: ['--nats', nats.url, '--node-id', 'g'], env: env() }),
      ]);
      client = await TextClient.connect(gateway.ports.merklekv);
    });
    afterAll(async () => {
      await client?.close();
      await Promise.all([gateway, shard].map((p) => p?.[Symbol.asyncDispose]()));
    });

    it('adds the gateway to store-shard request/reply hop to the same trace', async () => {
      await eventually('the gateway to reach its store-shard process', async () => (await client.request('SET traced:split v')) === 'OK');
      const command = await otlp.waitForSpan('the SET span of the gateway', (s) =>
          s.name === 'merklekv SET' && s.nodeId === 'g' && s.attributes['merklekv.key.hash'] === keyHash('traced:split') && s.attributes['error.type'] === undefined,
      );
      expect(command.service).toBe('merklekv-gateway');
      // Each process exports on its own schedule: s1's spans may arrive after the merges' do.
      await eventually('the spans of the split write on s1, and its merges on a, b and c', () => {
        const trace = otlp.trace(command.traceId);
        return ['shard.serve', 'shard.apply', 'replication.publish'].every((name) => has(trace, name, 's1')) && ['a', 'b', 'c'].every((id) => has(trace, 'replication.merge', id));
      }, TRACE_DEADLINE_MS);
      const trace = otlp.trace(command.traceId);
      const request = only(trace, 'shard.request', 'g');
      const serve = only(trace, 'shard.serve', 's1');
      const apply = only(trace, 'shard.apply', 's1');
      const publish = only(trace, 'replication.publish', 's1');
      expectChild(request, command);
      expectChild(serve, request);
      expectChild(apply, serve);
      expectChild(publish, apply);
      expect(serve.service).toBe('merklekv-store-shard');
      for (const id of ['a', 'b', 'c']) expectChild(only(trace, 'replication.consume', id), publish);
    });
  });
});
