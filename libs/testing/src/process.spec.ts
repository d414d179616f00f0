import { isProcessAlive, ManagedProcess } from './process.js';

describe('ManagedProcess', () => {
  it('drains a chatty child and keeps only the tail', async () => {
    const proc = ManagedProcess.spawn('sh', {
      args: ['-c', 'i=0; while [ $i -lt 5000 ]; do echo "line $i"; echo "err $i" >&2; i=$((i+1)); done'],
      logLines: 10,
    });
    const exit = await proc.exited;
    expect(exit).toMatchObject({ code: 0, signal: null, status: 0 });
    const lines = proc.logs().split('\n');
    expect(lines).toHaveLength(11);
    // The two pipes interleave as the scheduler pleases; the newest lines of one are kept.
    expect(lines[0]).toBe('(… 9990 earlier lines dropped)');
    expect(lines.includes('line 4999') || lines.includes('err 4999')).toBe(true);
  });

  it('waits for a line and reports a process that could not start', async () => {
    const proc = ManagedProcess.spawn('sh', { args: ['-c', 'echo hello; echo world; exec sleep 30'] });
    await expect(proc.waitForLine((l) => (l === 'world' ? l : undefined), { timeoutMs: 5_000, what: 'world' })).resolves.toBe('world');
    expect(await proc.stop()).toBe(128 + 15);
    expect(isProcessAlive(proc.pid)).toBe(false);

    const missing = ManagedProcess.spawn('definitely-not-a-binary-merklekv');
    expect((await missing.exited).status).toBe(127);
    await expect(missing.waitForLine(() => true, { timeoutMs: 1_000, what: 'anything' })).rejects.toMatchObject({
      code: 'SPAWN_FAILED',
    });
  });

  it('escalates to SIGKILL when the grace period passes', async () => {
    const proc = ManagedProcess.spawn(process.execPath, {
      args: ['-e', "process.on('SIGTERM', () => {}); console.log('armed'); setInterval(() => {}, 1000);"],
    });
    await proc.waitForLine((l) => (l === 'armed' ? true : undefined), { timeoutMs: 5_000, what: 'armed' });
    expect(await proc.stop('SIGTERM', 200)).toBe(137);
  });
});
