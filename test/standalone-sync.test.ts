import { type NatsServer, type NodeProcess, startNatsServer, startNode, TextClient } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

/** A standalone node (no NATS) with a line client. */
interface Standalone {
  readonly process: NodeProcess;
  send(line: string): Promise<string>;
  close(): Promise<void>;
}

async function standalone(): Promise<Standalone> {
  const process = await startNode({ args: ['--engine', 'rocksdb'] });
  const client = await TextClient.connect(process.ports.merklekv);
  return {
    process,
    send: (line) => client.request(line),
    close: async () => {
      await client.close();
      await process[Symbol.asyncDispose]();
    },
  };
}

/** What users copy data between servers with, on nodes that run without NATS, as the reference server does. */
describe('a standalone node', () => {
  const opened: Standalone[] = [];
  const open = async (): Promise<Standalone> => {
    const node = await standalone();
    opened.push(node);
    return node;
  };
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((node) => node.close()));
  });

  it("SYNC host port pulls another standalone server's keys and values (by SCAN and GET), keeping its own", async () => {
    const [source, target] = await Promise.all([open(), open()]);
    for (let i = 0; i < 20; i++) expect(await source.send(`SET copied:${i} value ${i}`)).toBe('OK');
    expect(await target.send('SET copied:0 stale')).toBe('OK');
    expect(await target.send('SET local-only kept')).toBe('OK');
    expect(await target.send(`SYNC 127.0.0.1 ${source.process.ports.merklekv}`)).toBe('OK');
    expect(await target.send('GET copied:0')).toBe('VALUE value 0');
    expect(await target.send('GET copied:19')).toBe('VALUE value 19');
    expect(await target.send('GET local-only')).toBe('VALUE kept');
    expect(await target.send('HASH copied:')).toBe(await source.send('HASH copied:'));
    // The source is read, never written: the reference's SYNC pulls.
    expect(await source.send('EXISTS local-only')).toBe('EXISTS 0');
    expect(await target.send('SYNC 127.0.0.1 1')).toMatch(/^ERROR SYNC cannot reach 127\.0\.0\.1:1/);
  });

  it('answers REPLICATE as the reference server does: OK to enable and disable, and a status of disabled', async () => {
    const node = await open();
    expect(await node.send('REPLICATE enable')).toBe('OK');
    expect(await node.send('REPLICATE disable')).toBe('OK');
    expect(await node.send('REPLICATE status')).toBe('REPLICATION disabled');
  });
});

describe('a standalone node syncing with a cluster member', () => {
  let nats: NatsServer;
  let member: ClusterNode | undefined;
  let node: Standalone | undefined;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.[Symbol.asyncDispose]();
  });
  afterEach(async () => {
    await node?.close();
    await stopClusterNode(member);
  });

  it('runs an anti-entropy session with it over the text protocol: both merge, counters add up', async () => {
    [member, node] = await Promise.all([startClusterNode(nats.url, 'member', ['--anti-entropy=false']), standalone()]);
    await member.send('MSET theirs 1 shared from-member');
    await node.send('MSET mine 2');
    // Two counters started from the same absent key: merged, both increments count.
    expect(await member.send('INC visits 3')).toBe('VALUE 3');
    expect(await node.send('INC visits 4')).toBe('VALUE 4');
    expect(await node.send(`SYNC 127.0.0.1 ${member.process.ports.merklekv}`)).toBe('OK');
    expect(await node.send('GET theirs')).toBe('VALUE 1');
    expect(await node.send('GET shared')).toBe('VALUE from-member');
    expect(await node.send('GET visits')).toBe('VALUE 7');
    expect(await member.send('GET mine')).toBe('VALUE 2');
    expect(await member.send('GET visits')).toBe('VALUE 7');
    expect(await node.send('HASH')).toBe(await member.send('HASH'));
  });
});
