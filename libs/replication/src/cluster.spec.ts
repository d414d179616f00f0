/*
 * An R3 stream on a 3-server NATS cluster: replication rides out the loss of the server that
 * leads the stream.
 */
import { eventually, startNatsCluster } from '#testing';
import { type ChangeRecord } from './ports.js';
import { ensureStream } from './stream.js';
import { replicationSubjects } from './subjects.js';
import { changeId } from './testing/fakes.js';
import { testClient } from './testing/nats.js';
import { fakeNode } from './testing/node.js';

describe('on a 3-server NATS cluster', () => {
  it('keeps publishing and consuming when the stream leader is killed', async () => {
    await using cluster = await startNatsCluster(3);
    const name = 'r3';
    const { stream } = replicationSubjects(name);
    {
      await using c = await testClient(cluster.urls);
      const info = await ensureStream(c.jsm, { cluster: name, replicas: 3 });
      expect(info.config.num_replicas).toBe(3);
    }
    // Each node knows every server and fails over to another one.
    await using a = await fakeNode('node-a', [...cluster.urls], name);
    await using b = await fakeNode('node-b', [...cluster.urls].reverse(), name);

    // A steady stream of writes on node-a while the leader dies.
    const written: ChangeRecord[] = [];
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        written.push(a.outbox.set(`k${i}`, `v${i}`, i % 16));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const progress = (): string =>
      `b applied ${b.sink.changes.size} of ${written.length}; a: ${JSON.stringify(a.publisher.stats)}; b: ${JSON.stringify(b.subscriber.stats)}`;
    await eventually(progress, () => b.sink.changes.size >= 50, 30_000);

    const leaderName = (await a.client.jsm.streams.info(stream)).cluster?.leader;
    const leader = cluster.servers.find((s) => s.name === leaderName);
    if (leader === undefined) throw new Error(`no server named ${String(leaderName)}`);
    await leader.kill();
    const appliedAtKill = b.sink.changes.size;
    const writtenAtKill = written.length;

    // Publishing and consumption continue past the kill (a new leader is elected).
    await eventually(
      () => `${progress()}; at the kill: ${appliedAtKill}/${writtenAtKill}`,
      () => b.sink.changes.size >= writtenAtKill + 100,
      30_000,
    );
    writing = false;
    await writer;

    await eventually(
      () => `outbox ${a.outbox.depth}; ${progress()}`,
      () => a.outbox.depth === 0 && written.every((r) => b.sink.changes.has(changeId(r))),
      30_000,
    );
    expect(b.sink.ids()).toEqual(written.map(changeId).sort());
    expect(a.outbox.outOfOrder).toBe(0);
    const info = await a.client.jsm.streams.info(stream);
    expect(info.cluster?.leader).not.toBe(leaderName);
    expect(info.state.messages).toBe(written.length);
  }, 90_000);
});
