import { faultUnderLoad, moreAcked, sleep } from './support.js';

describe('NATS killed under load', () => {
  it('keeps every acknowledged write while nats-server is killed -9 and restarted, and the nodes converge', async () => {
    await faultUnderLoad('NATS killed', ['a', 'b', 'c'], async ({ nats, acked }) => {
      await moreAcked(acked, 300, 'before NATS dies');
      await nats.kill();
      await moreAcked(acked, 300, 'while NATS is down');
      // An outage of some seconds: long enough for clients to notice and reconnect.
      await sleep(5_000);
      await nats.restart();
      await moreAcked(acked, 300, 'after NATS returned');
    });
  });
});
