import { faultUnderLoad, moreAcked, sleep } from './support.js';

describe('a frozen node', () => {
  it('catches up after SIGSTOP for some seconds under writes elsewhere, then SIGCONT', async () => {
    // c takes no writes of its own: a client of a stopped process would only wait.
    await faultUnderLoad(
      'SIGSTOP node',
      ['a', 'b', 'c'],
      async ({ nodes, acked }) => {
        await moreAcked(acked, 200, 'before the freeze');
        const frozen = nodes[2]!.process.pid;
        process.kill(frozen, 'SIGSTOP');
        try {
          await moreAcked(acked, 300, 'while c is frozen');
          // Long enough for NATS and the peers to miss its heartbeats.
          await sleep(8_000);
        } finally {
          process.kill(frozen, 'SIGCONT');
        }
        await moreAcked(acked, 200, 'after c thawed');
      },
      2,
    );
  });
});
