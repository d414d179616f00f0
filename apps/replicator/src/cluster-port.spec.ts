import { KvError } from '#commands';
import { Replicator } from '#replication';
import { clusterPort, type ClusterExtension } from './cluster-port.js';

/** A replicator never started: its reports and REPLICATE work without NATS. */
const replicator = (): Replicator =>
  new Replicator({
    cluster: 'c',
    nodeId: 'n1',
    version: 'test',
    shards: 4,
    connect: () => Promise.reject(new Error('not in this test')),
    source: { read: () => [], acknowledge: () => Promise.resolve(), onAppend: () => () => undefined, depth: 0 },
    sink: { apply: () => Promise.resolve() },
    enabled: true,
    maxValueBytes: 1024,
    announce: () => Promise.resolve(undefined),
    roots: () => ({}),
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });

describe('clusterPort', () => {
  it('without anti-entropy: the replicator alone, and SYNC and AE answer UNAVAILABLE', async () => {
    const port = clusterPort(replicator());
    expect(port.describe()).toContainEqual(['role', 'cluster']);
    expect(port.view()).not.toHaveProperty('antiEntropy');
    expect(port.liveNodes).toBe(1);
    await port.setReplication(false);
    expect(port.replicating).toBe(false);
    for (const call of [port.sync('h', 1), port.exchange(new Uint8Array())]) {
      await expect(call).rejects.toBeInstanceOf(KvError);
      await expect(call).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    }
  });

  it('with anti-entropy: its INFO lines after the replicator’s, its view under antiEntropy, SYNC and AE by it', async () => {
    const calls: string[] = [];
    const extension: ClusterExtension = {
      describe: () => [['anti_entropy', 'enabled']],
      view: () => ({ rounds: 3 }),
      exchange: (message) => Promise.resolve(message),
      sync: (host, port) => Promise.resolve(calls.push(`${host}:${port}`)),
    };
    const port = clusterPort(replicator(), extension);
    expect(port.describe().at(-1)).toEqual(['anti_entropy', 'enabled']);
    expect(port.view()).toMatchObject({ cluster: 'c', node: { id: 'n1' }, antiEntropy: { rounds: 3 } });
    await expect(port.sync('h', 7)).resolves.toBeUndefined();
    expect(calls).toEqual(['h:7']);
    await expect(port.exchange(Uint8Array.of(1))).resolves.toEqual(Uint8Array.of(1));
  });
});
