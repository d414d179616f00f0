import { startMemcached } from '#testing';
import { startFakeMerkleKv } from './fake-merklekv.js';
import { LatencyHistogram } from './histogram.js';
import { benchKey, benchValue, runLoad, summarize } from './loadgen.js';

describe('runLoad against a fake MerkleKV server', () => {
  it('preloads every key exactly once, then reads them back under fragmented replies', async () => {
    await using server = await startFakeMerkleKv({ fragment: true });
    const preload = await runLoad({ port: server.port, protocol: 'merklekv', op: 'set', connections: 4, keys: 50, valueBytes: 20, requests: 50 });
    expect(preload).toMatchObject({ ops: 50, errors: 0, misses: 0 });
    expect(server.store.size).toBe(50);
    expect(server.store.get(benchKey('bench:', 7))).toBe(benchValue(7, 20).toString());

    const reads = await runLoad({ port: server.port, protocol: 'merklekv', op: 'get', connections: 3, depth: 4, keys: 50, valueBytes: 20, requests: 300 });
    expect(reads).toMatchObject({ ops: 300, replies: 300, errors: 0, misses: 0, depth: 4 });
    expect(server.served()).toBe(350);
    expect(LatencyHistogram.fromSnapshot(reads.histogram).count).toBe(300);
  }, 20_000);

  it('runs for a duration after a warm-up and counts misses', async () => {
    await using server = await startFakeMerkleKv();
    const result = await runLoad({ port: server.port, protocol: 'merklekv', op: 'get', connections: 2, keys: 10, valueBytes: 10, warmupMs: 50, durationMs: 200 });
    expect(result.ops).toBeGreaterThan(0);
    expect(result.misses).toBe(result.ops);
    expect(result.seconds).toBeGreaterThan(0.15);
    // Every request in flight at the end was drained, none left half-answered; the warm-up's
    // replies count in `replies`, not in `ops`.
    expect(server.served()).toBe(result.replies);
    expect(result.replies).toBeGreaterThan(result.ops);
    const summary = summarize(result);
    expect(summary.p50_ms).toBeGreaterThan(0);
    expect(summary.p99_ms).toBeGreaterThanOrEqual(summary.p50_ms);
  }, 20_000);

  it('fails loudly when the server goes away', async () => {
    const server = await startFakeMerkleKv();
    const run = runLoad({ port: server.port, protocol: 'merklekv', op: 'get', connections: 2, keys: 10, valueBytes: 10, durationMs: 5_000 });
    setTimeout(() => void server.close(), 50);
    await expect(run).rejects.toThrow(/closed by the server|ECONNRESET/);
  }, 20_000);
});

describe('runLoad against memcached', () => {
  it('sets and gets with the memcached protocol', async () => {
    await using mc = await startMemcached();
    const sets = await runLoad({ port: mc.port, protocol: 'memcached', op: 'set', connections: 5, keys: 200, valueBytes: 100, requests: 200 });
    expect(sets).toMatchObject({ ops: 200, errors: 0 });
    const gets = await runLoad({ port: mc.port, protocol: 'memcached', op: 'get', connections: 5, depth: 3, keys: 200, valueBytes: 100, warmupMs: 50, durationMs: 300 });
    expect(gets.ops).toBeGreaterThan(0);
    expect(gets).toMatchObject({ errors: 0, misses: 0 });
  }, 20_000);
});
