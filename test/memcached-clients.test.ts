import { execFile } from 'node:child_process';
import Memcached from 'memcached';
import memjs from 'memjs';
import { eventually, type NodeProcess, startNode, TextClient } from '#testing';

/**
 * Stock memcached clients, unchanged, against a node's memcached port: the `memcached` npm
 * package (text protocol), memjs (binary protocol), and Debian's python3-pymemcache and
 * python3-pylibmc (libmemcached, text and binary), each through get, set, cas, incr, delete,
 * touch, a multi-get and a key that expires. The Python clients are Debian's, importable only by
 * /usr/bin/python3 (.ci/run installs them).
 */
const PYTHON = '/usr/bin/python3';

/** Runs a Python script with the port as its argument; resolves with its stdout. */
function python(script: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ['-c', script, String(port)], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** The `memcached` package's callbacks as promises. */
function call<T>(run: (cb: (err: unknown, result: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => run((err, result) => (err ? reject(err instanceof Error ? err : new Error(String(err))) : resolve(result))));
}

const PYMEMCACHE = `
import sys, time
from pymemcache.client.base import Client
c = Client(('127.0.0.1', int(sys.argv[1])), default_noreply=False)
assert c.set('py:a', b'1') is True
assert c.get('py:a') == b'1'
value, cas = c.gets('py:a')
assert value == b'1'
assert c.cas('py:a', b'2', cas) is True
assert c.cas('py:a', b'3', cas) is False
assert c.get('py:a') == b'2'
assert c.add('py:a', b'x') is False
assert c.incr('py:n', 1) is None
assert c.set('py:n', b'10') is True
assert c.incr('py:n', 5) == 15
assert c.decr('py:n', 100) == 0
assert c.get_many(['py:a', 'py:n', 'py:none']) == {'py:a': b'2', 'py:n': b'0'}
assert c.touch('py:a', 100) is True
assert c.touch('py:none', 100) is False
assert c.delete('py:a') is True
assert c.delete('py:a') is False
assert c.get('py:a') is None
assert c.set('py:exp', b'soon', expire=1) is True
assert c.get('py:exp') == b'soon'
deadline = time.time() + 15
while c.get('py:exp') is not None:
    assert time.time() < deadline, 'py:exp never expired'
    time.sleep(0.05)
print('ok')
`;

const PYLIBMC = `
import sys, time
import pylibmc
port = int(sys.argv[1])
for binary in (False, True):
    p = 'lmb:' if binary else 'lm:'
    c = pylibmc.Client(['127.0.0.1:%d' % port], binary=binary, behaviors={'cas': True})
    assert c.set(p + 'a', 'one')
    assert c.get(p + 'a') == 'one'
    value, cas = c.gets(p + 'a')
    assert value == 'one'
    assert c.cas(p + 'a', 'two', cas)
    assert not c.cas(p + 'a', 'three', cas)
    assert c.get(p + 'a') == 'two'
    try:
        c.incr(p + 'n')
        raise AssertionError('incr of a missing key')
    except pylibmc.NotFound:
        pass
    assert c.set(p + 'n', 10)
    assert c.incr(p + 'n', 5) == 15
    assert c.decr(p + 'n', 100) == 0
    assert c.get(p + 'n') == 0
    assert c.get_multi([p + 'a', p + 'n', p + 'none']) == {p + 'a': 'two', p + 'n': 0}
    assert c.touch(p + 'a', 100)
    assert c.delete(p + 'a')
    assert not c.delete(p + 'a')
    assert c.get(p + 'a') is None
    assert c.set(p + 'exp', 'soon', time=1)
    assert c.get(p + 'exp') == 'soon'
    deadline = time.time() + 15
    while c.get(p + 'exp') is not None:
        assert time.time() < deadline, p + 'exp never expired'
        time.sleep(0.05)
print('ok')
`;

describe('stock memcached clients against a node', () => {
  let node: NodeProcess;
  let port: number;
  beforeAll(async () => {
    node = await startNode();
    port = node.ports.memcached!;
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  it('the memcached npm package (text protocol)', async () => {
    const client = new Memcached(`127.0.0.1:${port}`, { retries: 0, timeout: 10_000 });
    try {
      expect(await call<boolean>((cb) => client.set('npm:a', 'one', 0, cb))).toBe(true);
      expect(await call((cb) => client.get('npm:a', cb))).toBe('one');
      const { cas } = await call<{ cas: string }>((cb) => client.gets('npm:a', cb));
      expect(await call<boolean>((cb) => client.cas('npm:a', 'two', cas, 0, cb))).toBe(true);
      expect(await call<boolean>((cb) => client.cas('npm:a', 'three', cas, 0, cb))).toBe(false);
      expect(await call((cb) => client.get('npm:a', cb))).toBe('two');
      expect(await call((cb) => client.incr('npm:n', 1, cb))).toBe(false);
      // A number is stored with the package's numeric flag and comes back a number.
      expect(await call<boolean>((cb) => client.set('npm:n', 10, 0, cb))).toBe(true);
      expect(await call((cb) => client.incr('npm:n', 5, cb))).toBe(15);
      expect(await call((cb) => client.decr('npm:n', 100, cb))).toBe(0);
      expect(await call<boolean>((cb) => client.set('npm:json', { nested: [1, 'x'] }, 0, cb))).toBe(true);
      expect(await call((cb) => client.getMulti(['npm:a', 'npm:n', 'npm:json', 'npm:none'], cb))).toEqual({ 'npm:a': 'two', 'npm:n': 0, 'npm:json': { nested: [1, 'x'] } });
      await call<void>((cb) => client.touch('npm:a', 100, (err: unknown) => cb(err, undefined)));
      expect(await call<boolean>((cb) => client.del('npm:a', cb))).toBe(true);
      expect(await call((cb) => client.get('npm:a', cb))).toBeUndefined();
      expect(await call<boolean>((cb) => client.set('npm:exp', 'soon', 1, cb))).toBe(true);
      expect(await call((cb) => client.get('npm:exp', cb))).toBe('soon');
      await eventually('npm:exp to expire', async () => (await call((cb) => client.get('npm:exp', cb))) === undefined);
    } finally {
      client.end();
    }
  });

  it('memjs (binary protocol)', async () => {
    const client = memjs.Client.create(`127.0.0.1:${port}`, { retries: 0, timeout: 10, logger: { log: () => undefined } });
    try {
      expect(await client.set('memjs:a', 'one', { expires: 0 })).toBe(true);
      expect((await client.get('memjs:a')).value?.toString()).toBe('one');
      // memjs has no cas; add is its compare: it fails on a present key.
      expect(await client.add('memjs:a', 'other')).toBe(false);
      expect(await client.add('memjs:b', 'new')).toBe(true);
      expect(await client.replace('memjs:none', 'x')).toBe(false);
      // Missing with an initial value: created; then incremented, then decremented to the floor.
      expect(await client.increment('memjs:n', 5, { initial: 10 })).toEqual({ success: true, value: 10 });
      expect(await client.increment('memjs:n', 5, {})).toEqual({ success: true, value: 15 });
      expect(await client.decrement('memjs:n', 100, {})).toEqual({ success: true, value: 0 });
      // Requests in flight together (memjs pipelines them on its connection): a multi-get.
      const [a, b, none] = await Promise.all(['memjs:a', 'memjs:b', 'memjs:none'].map((key) => client.get(key)));
      expect([a?.value?.toString(), b?.value?.toString(), none?.value]).toEqual(['one', 'new', null]);
      expect(await client.touch('memjs:a', 100)).toBe(true);
      expect(await client.delete('memjs:a')).toBe(true);
      expect(await client.delete('memjs:a')).toBe(false);
      expect((await client.get('memjs:a')).value).toBeNull();
      expect(await client.set('memjs:exp', 'soon', { expires: 1 })).toBe(true);
      await eventually('memjs:exp to expire', async () => (await client.get('memjs:exp')).value === null);
      const stats = await new Promise<Record<string, string>>((resolve) => client.stats((_err, _server, s) => resolve(s as Record<string, string>)));
      expect(Number(stats['cmd_get'])).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  });

  it("Debian's python3-pymemcache", async () => {
    expect(await python(PYMEMCACHE, port)).toBe('ok');
  });

  it("Debian's python3-pylibmc, text and binary protocols", async () => {
    expect(await python(PYLIBMC, port)).toBe('ok');
  });

  it('a key set over memcached reads over MerkleKV text and HTTP, and the other way round', async () => {
    await using mc = await TextClient.connect(port);
    mc.send('set shared:key 5 0 5');
    mc.send('hello');
    expect(await mc.readLines(1)).toEqual(['STORED']);
    await using text = await TextClient.connect(node.ports.merklekv);
    expect(await text.request('GET shared:key')).toBe('VALUE hello');
    const response = await fetch(`http://127.0.0.1:${node.ports.http}/v1/kv/shared:key`);
    expect(await response.text()).toBe('hello');
    expect(await text.request('SET shared:other from merklekv')).toBe('OK');
    mc.send('get shared:other');
    expect(await mc.readUntil('END')).toEqual(['VALUE shared:other 0 13', 'from merklekv', 'END']);
  });

  it('two connections racing gets/cas on one key: exactly one wins each round', async () => {
    await using first = await TextClient.connect(port);
    await using second = await TextClient.connect(port);
    for (let round = 0; round < 20; round++) {
      first.send('set race 0 0 1');
      first.send('0');
      expect(await first.readLines(1)).toEqual(['STORED']);
      const casOf = async (client: TextClient): Promise<string> => {
        client.send('gets race');
        const [header] = await client.readUntil('END');
        return header!.split(' ')[4]!;
      };
      const [casA, casB] = await Promise.all([casOf(first), casOf(second)]);
      expect(casA).toBe(casB);
      first.send(`cas race 0 0 1 ${casA}`);
      second.send(`cas race 0 0 1 ${casB}`);
      first.send('A');
      second.send('B');
      const outcomes = (await Promise.all([first.readLines(1), second.readLines(1)])).flat().sort();
      expect(outcomes).toEqual(['EXISTS', 'STORED']);
    }
  });
});
