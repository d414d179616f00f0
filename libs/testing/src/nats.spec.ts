import { existsSync } from 'node:fs';
import { startNatsCluster, startNatsServer } from './nats.js';
import { isProcessAlive } from './process.js';
import { TextClient } from './text-client.js';

/** Connects a raw TCP client and returns the server's INFO object. */
async function info(port: number): Promise<Record<string, unknown>> {
  await using client = await TextClient.connect(port);
  const line = await client.readLine();
  expect(line.startsWith('INFO {')).toBe(true);
  return JSON.parse(line.slice('INFO '.length)) as Record<string, unknown>;
}

/** Creates a JetStream stream over the raw client protocol and returns the API's JSON reply. */
async function createStream(port: number, config: Record<string, unknown>): Promise<Record<string, unknown>> {
  await using client = await TextClient.connect(port, { timeoutMs: 10_000 });
  await client.readLine(); // INFO
  const body = JSON.stringify(config);
  client.send('CONNECT {"verbose":false,"pedantic":false}');
  client.send('SUB _INBOX.harness 1');
  client.send(`PUB $JS.API.STREAM.CREATE.${String(config['name'])} _INBOX.harness ${Buffer.byteLength(body)}`);
  client.send(body);
  client.send('PING');
  for (;;) {
    const line = await client.readLine();
    if (line.startsWith('MSG _INBOX.harness ')) return JSON.parse(await client.readLine()) as Record<string, unknown>;
    if (line.startsWith('-ERR')) throw new Error(line);
  }
}

describe('startNatsServer', () => {
  it('starts on an ephemeral port with JetStream, restarts on the same port and store, and cleans up', async () => {
    const pids: number[] = [];
    let storeDir: string;
    {
      await using nats = await startNatsServer();
      storeDir = nats.storeDir;
      expect(nats.port).not.toBe(4222);
      expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
      expect(await info(nats.port)).toMatchObject({ port: nats.port, jetstream: true, server_name: nats.name });
      pids.push(nats.pid);

      expect(await nats.stop()).toBe(0);
      expect(nats.running).toBe(false);
      const port = nats.port;
      await nats.restart();
      expect(nats.port).toBe(port);
      expect(await info(port)).toMatchObject({ port, jetstream: true });
      expect(existsSync(`${storeDir}/jetstream`)).toBe(true);
      pids.push(nats.pid);

      // A crash (SIGKILL) and a restart of a running server work the same way.
      await nats.kill();
      await nats.restart();
      await nats.restart();
      expect(await info(port)).toMatchObject({ port });
      pids.push(nats.pid);
    }
    expect(pids.filter(isProcessAlive)).toEqual([]);
    expect(existsSync(storeDir)).toBe(false);
  }, 30_000);

  it('can run without JetStream', async () => {
    await using nats = await startNatsServer({ jetstream: false });
    expect((await info(nats.port))['jetstream']).toBeFalsy();
  }, 20_000);
});

describe('startNatsCluster', () => {
  it('forms a 3-server JetStream cluster whose members can be restarted', async () => {
    const pids: number[] = [];
    {
      await using cluster = await startNatsCluster(3);
      expect(cluster.servers).toHaveLength(3);
      expect(new Set(cluster.urls).size).toBe(3);
      for (const server of cluster.servers) {
        expect(await info(server.port)).toMatchObject({ port: server.port, jetstream: true, cluster: cluster.name });
      }
      pids.push(...cluster.servers.map((s) => s.pid));
      const stream = await createStream(cluster.servers[2]?.port ?? 0, { name: 'HARNESS', subjects: ['harness.>'], num_replicas: 3, storage: 'file' });
      expect(stream['error']).toBeUndefined();
      expect(stream).toMatchObject({ config: { num_replicas: 3 }, cluster: { name: cluster.name } });
      expect((stream['cluster'] as { replicas?: unknown[] }).replicas).toHaveLength(2);

      const member = cluster.servers[1];
      if (member === undefined) throw new Error('no member');
      await member.kill();
      await member.restart();
      await cluster.waitForMetaLeader();
      pids.push(member.pid);
    }
    expect(pids.filter(isProcessAlive)).toEqual([]);
  }, 60_000);
});
