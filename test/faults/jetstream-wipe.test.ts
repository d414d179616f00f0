import { mkdirSync, rmSync } from 'node:fs';
import { faultUnderLoad, moreAcked } from './support.js';

describe("JetStream's store wiped", () => {
  it('keeps every acknowledged write when nats-server comes back with an empty store, and the nodes converge', async () => {
    await faultUnderLoad('JetStream store wiped', ['a', 'b', 'c'], async ({ nats, acked }) => {
      await moreAcked(acked, 300, 'before the wipe');
      // What a power loss can do to an unsynced store: the stream, its messages and consumers gone.
      await nats.stop();
      rmSync(nats.storeDir, { recursive: true, force: true });
      mkdirSync(nats.storeDir);
      await moreAcked(acked, 200, 'while NATS is down');
      await nats.restart();
      await moreAcked(acked, 300, 'after NATS returned empty');
    });
  });
});
