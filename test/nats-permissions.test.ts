import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventually, type NatsServer, repoRoot, startNatsServer } from '#testing';
import { type ClusterNode, startClusterNode, stopClusterNode } from './support/cluster.js';

/**
 * The shipped docker/nats-node-users.conf on a real nats-server: three nodes, each signed in as
 * its own NATS user limited to its own subjects, replicate and see each other; a user of the same
 * NATS without those permissions can inject neither changes nor anti-entropy messages.
 */
const PASSWORDS = { 'node-a': 'pw-a-4d1c', 'node-b': 'pw-b-77e0', 'node-c': 'pw-c-0b9f' } as const;
const OUTSIDER = `    {
      user: outsider, password: outsider-pw
      permissions: { publish: { allow: ["app.>"] }, subscribe: { allow: ["app.>", "_INBOX.>"] } }
    }`;

describe('NATS permissions of the sample configuration', () => {
  let nats: NatsServer;
  let nodes: ClusterNode[];
  beforeAll(async () => {
    const sample = readFileSync(join(repoRoot(), 'docker', 'nats-node-users.conf'), 'utf8');
    // One more user, of another application sharing the NATS.
    const config = sample.replace(/\n {2}\]\n\}\s*$/, `,\n${OUTSIDER}\n  ]\n}\n`);
    expect(config).toContain('user: outsider');
    nats = await startNatsServer({
      config,
      env: { NODE_A_PASSWORD: PASSWORDS['node-a'], NODE_B_PASSWORD: PASSWORDS['node-b'], NODE_C_PASSWORD: PASSWORDS['node-c'] },
    });
    nodes = await Promise.all(
      (['node-a', 'node-b', 'node-c'] as const).map((id) => startClusterNode(nats.url, id, ['--nats-user', id], undefined, { MERKLEKV_NATS_PASSWORD: PASSWORDS[id] })),
    );
    await eventually('every node to see two live peers', async () => (await Promise.all(nodes.map((n) => n.info()))).every((i) => i.get('peers_alive') === '2'));
  });
  afterAll(async () => {
    await Promise.all((nodes ?? []).map(stopClusterNode));
    await nats?.[Symbol.asyncDispose]();
  });

  it('lets the nodes replicate and run anti-entropy, with no permission violation', async () => {
    expect(await nodes[0]!.send('SET guarded yes')).toBe('OK');
    await eventually('the write on every node', async () => (await Promise.all(nodes.map((n) => n.send('GET guarded')))).every((r) => r === 'VALUE yes'));
    // An anti-entropy round now, over the node's own and its peer's session subjects.
    const round = await fetch(`http://127.0.0.1:${nodes[0]!.process.ports.http}/v1/cluster/anti-entropy?peer=node-b`, { method: 'POST' });
    expect(round.status).toBe(200);
    expect(((await round.json()) as { session: unknown }).session).not.toBeNull();
    expect(nats.logs()).not.toMatch(/Violation/i);
  });

  it('refuses a node a wrong password', async () => {
    const refused = await connect({ servers: nats.url, user: 'node-a', pass: 'wrong', reconnect: false }).catch((err: Error) => err);
    expect(String(refused)).toMatch(/Authorization Violation/i);
  });

  it('keeps a user without those permissions from publishing changes or anti-entropy messages', async () => {
    const nc: NatsConnection = await connect({ servers: nats.url, user: 'outsider', pass: 'outsider-pw' });
    try {
      nc.publish('merklekv.merkle_kv.changes.0', new Uint8Array([1, 2, 3]));
      nc.publish('merklekv.merkle_kv.members', new Uint8Array([1]));
      const ae = await nc.request('merklekv.merkle_kv.ae.node-a', new Uint8Array([0]), { timeout: 2000 }).catch((err: Error) => err);
      expect(String(ae)).toMatch(/permission/i);
      const stream = await nc.request('$JS.API.STREAM.INFO.MERKLEKV_merkle_kv', undefined, { timeout: 2000 }).catch((err: Error) => err);
      expect(String(stream)).toMatch(/permission/i);
      await nc.flush();
      await nats.waitForLog(/Publish Violation - User "outsider", Subject "merklekv\.merkle_kv\.changes\.0"/, { includePast: true });
      await nats.waitForLog(/Publish Violation - User "outsider", Subject "merklekv\.merkle_kv\.members"/, { includePast: true });
    } finally {
      await nc.close();
    }
    // The nodes are as they were: serving, and still three.
    expect((await nodes[1]!.info()).get('peers_alive')).toBe('2');
  });
});
