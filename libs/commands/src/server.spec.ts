import { humanUptime } from './server.js';
import { bytes, executorFixture, type ExecutorFixture, str } from './testing/executor-fixture.js';

describe('server commands', () => {
  let kv: ExecutorFixture;
  let clock: number;
  beforeEach(async () => {
    clock = 1_700_000_000_000;
    kv = await executorFixture({ now: () => clock });
  });
  afterEach(() => kv.close());

  it('PING and ECHO return their message', async () => {
    expect(await kv.run({ name: 'PING' })).toBeUndefined();
    expect(await kv.run({ name: 'PING', message: 'hi there' })).toBe('hi there');
    expect(await kv.run({ name: 'ECHO', message: 'x y' })).toBe('x y');
  });

  it('STATS counters really count', async () => {
    const a = kv.clients.register('127.0.0.1:1000', 'merklekv');
    kv.clients.register('127.0.0.1:1001', 'merklekv');
    a.release();
    await kv.run({ name: 'SET', key: 'k', value: bytes('v') });
    await kv.run({ name: 'GET', key: 'k' });
    await kv.run({ name: 'GET', key: 'k' });
    await kv.run({ name: 'DEL', key: 'k' });
    await kv.run({ name: 'INCR', key: 'n', amount: 1n });
    await kv.run({ name: 'APPEND', key: 's', value: bytes('x') });
    await kv.run({ name: 'MGET', keys: ['k'] });
    clock += 3_725_000;
    const stats = new Map(await kv.run({ name: 'STATS' }));
    expect(stats.get('uptime_seconds')).toBe('3725');
    expect(stats.get('uptime')).toBe('0d 1h 2m 5s');
    expect(stats.get('total_connections')).toBe('2');
    expect(stats.get('active_connections')).toBe('1');
    expect(stats.get('total_commands')).toBe('8');
    expect(stats.get('get_commands')).toBe('2');
    expect(stats.get('set_commands')).toBe('1');
    expect(stats.get('delete_commands')).toBe('1');
    expect(stats.get('numeric_commands')).toBe('1');
    expect(stats.get('string_commands')).toBe('1');
    expect(stats.get('bulk_commands')).toBe('1');
    expect(stats.get('stat_commands')).toBe('1');
  });

  it('INFO reports version, time and the exact key count', async () => {
    await kv.run({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('2')]] });
    const info = new Map(await kv.run({ name: 'INFO' }));
    expect(info.get('version')).toBe('9.9.9');
    expect(info.get('server_time_unix')).toBe('1700000000');
    expect(info.get('db_keys')).toBe('2');
    expect(info.get('node_id')).toBe('test-node');
  });

  it('DBSIZE and MEMORY follow writes and deletes', async () => {
    expect(await kv.run({ name: 'DBSIZE' })).toBe(0);
    expect(await kv.run({ name: 'MEMORY' })).toBe(0);
    await kv.run({ name: 'SET', key: 'key', value: bytes('value') });
    const one = await kv.run({ name: 'MEMORY' });
    expect(one).toBeGreaterThanOrEqual('key'.length + 'value'.length);
    await kv.run({ name: 'DEL', key: 'key' });
    expect(await kv.run({ name: 'DBSIZE' })).toBe(0);
    expect(await kv.run({ name: 'MEMORY' })).toBe(0);
  });

  it('TRUNCATE clears everything', async () => {
    await kv.run({ name: 'MSET', pairs: [['a', bytes('1')], ['b', bytes('2')]] });
    await kv.run({ name: 'TRUNCATE' });
    expect(await kv.run({ name: 'DBSIZE' })).toBe(0);
    expect(await kv.run({ name: 'GET', key: 'a' })).toBeUndefined();
  });

  it('CLIENT LIST shows live connections only, with age and idle time', async () => {
    const a = kv.clients.register('127.0.0.1:5000', 'merklekv');
    const b = kv.clients.register('127.0.0.1:5001', 'merklekv');
    clock += 10_000;
    b.touch(clock);
    clock += 2_000;
    a.release();
    expect(await kv.run({ name: 'CLIENT_LIST' })).toEqual([{ id: b.id, addr: '127.0.0.1:5001', ageSeconds: 12, idleSeconds: 2 }]);
  });

  it('SHUTDOWN asks the node to stop', async () => {
    await kv.run({ name: 'SHUTDOWN' });
    expect(kv.shutdowns.count).toBe(1);
  });

  it('formats uptime as days, hours, minutes, seconds', () => {
    expect(humanUptime(0)).toBe('0d 0h 0m 0s');
    expect(humanUptime(90061)).toBe('1d 1h 1m 1s');
  });
});

describe('memory pressure', () => {
  it('refuses data commands with OVERLOADED while the node refuses new work, and still answers control commands', async () => {
    let refusal: string | undefined;
    const f = await executorFixture({ refusal: () => refusal });
    await f.run({ name: 'SET', key: 'k', value: bytes('v') });
    refusal = 'memory pressure: retry later';
    await expect(f.run({ name: 'SET', key: 'k', value: bytes('w') })).rejects.toMatchObject({ code: 'OVERLOADED', message: refusal });
    await expect(f.run({ name: 'GET', key: 'k' })).rejects.toMatchObject({ code: 'OVERLOADED' });
    await expect(f.run({ name: 'MGET', keys: ['k'] })).rejects.toMatchObject({ code: 'OVERLOADED' });
    expect(await f.run({ name: 'PING' })).toBeUndefined();
    expect(await f.run({ name: 'DBSIZE' })).toBe(1);
    await f.run({ name: 'INFO' });
    refusal = undefined;
    expect(str(await f.run({ name: 'GET', key: 'k' }))).toBe('v');
    await f.close();
  });
});
