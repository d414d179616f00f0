import { execFile } from 'node:child_process';
import { createConnection } from 'node:net';
import memjs from 'memjs';
import { makeTempDir, type NodeProcess, removeDir, startNode, TextClient } from '#testing';
import { APP_PASSWORD, OPS_PASSWORD, writeUsersConfig } from './support/users-config.js';

/**
 * memcached's own sign-in on a real node with users (issue 16, memcached part): ASCII auth on the
 * text protocol (the first `set` carries `user password`, as `memcached -Y`), SASL PLAIN on the
 * binary one, through a raw socket, memjs, pymemcache and pylibmc (libmemcached's SASL); the
 * guard's per-prefix permissions on memcached commands; failed sign-ins limited per address
 * across protocols. Python clients are Debian's, importable only by /usr/bin/python3.
 */
const PYTHON = '/usr/bin/python3';
const ADMIN_REFUSAL = 'CLIENT_ERROR user \'app\' may not run TRUNCATE: it needs admin on every key (prefix "")';

function python(script: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(PYTHON, ['-c', script, String(port), APP_PASSWORD], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(stdout.trim());
    });
  });
}

/** The `set` that signs a text connection in, as memcached -Y takes it. */
const signInSet = (user: string, password: string): string => {
  const block = `${user} ${password}`;
  return `set auth 0 0 ${Buffer.byteLength(block)}\r\n${block}\r\n`;
};

/** Sends `bytes` from `localAddress` on a new connection and resolves with the first reply line. */
function firstLineFrom(localAddress: string, port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: '127.0.0.1', port, localAddress }, () => socket.write(bytes));
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('utf8');
      const end = received.indexOf('\r\n');
      if (end < 0) return;
      socket.destroy();
      resolve(received.slice(0, end));
    });
    socket.on('error', reject);
  });
}

const PYMEMCACHE = `
import sys
from pymemcache.client.base import Client
from pymemcache.exceptions import MemcacheClientError
port, password = int(sys.argv[1]), sys.argv[2]
def refusal(call):
    try:
        call()
    except MemcacheClientError as e:
        return str(e)
    return 'not refused'
c = Client(('127.0.0.1', port), default_noreply=False)
assert 'unauthenticated' in refusal(lambda: c.get('pub:greeting'))
assert 'authentication failure' in refusal(lambda: c.set('auth', 'app wrong-password'))
assert c.set('auth', 'app ' + password) is True
assert c.set('app:py', b'1') is True
assert c.get('app:py') == b'1'
assert c.get('pub:greeting') == b'hello'
assert "may not write key 'secret:plan'" in refusal(lambda: c.set('secret:plan', b'changed'))
print('ok')
`;

const PYLIBMC = `
import sys
import pylibmc
port, password = int(sys.argv[1]), sys.argv[2]
server = ['127.0.0.1:%d' % port]
def refused(call):
    try:
        call()
    except pylibmc.Error:
        return True
    return False
assert pylibmc.support_sasl
wrong = pylibmc.Client(server, binary=True, username='app', password='wrong-password')
assert refused(lambda: wrong.get('pub:greeting'))
c = pylibmc.Client(server, binary=True, username='app', password=password)
assert c.set('app:libmc', b'2') is True
assert c.get('app:libmc') == b'2'
assert c.get('pub:greeting') == b'hello'
assert refused(lambda: c.set('secret:plan', b'changed'))
assert refused(lambda: c.get('secret:plan'))
print('ok')
`;

let dir: string;
let node: NodeProcess;
let port: number;

beforeAll(async () => {
  dir = await makeTempDir('memcached-security');
  const configFile = await writeUsersConfig(dir);
  node = await startNode({ args: ['--config', configFile] });
  port = node.ports.memcached!;
  await using ops = await TextClient.connect(node.ports.merklekv);
  expect(await ops.request(`AUTH ops ${OPS_PASSWORD}`)).toBe('OK');
  expect(await ops.request('SET pub:greeting hello')).toBe('OK');
  expect(await ops.request('SET secret:plan unchanged')).toBe('OK');
});
afterAll(async () => {
  await node?.[Symbol.asyncDispose]();
  await removeDir(dir);
});

/** secret:plan and pub:greeting as an admin reads them over the MerkleKV protocol. */
async function untouched(): Promise<string[]> {
  await using ops = await TextClient.connect(node.ports.merklekv);
  await ops.request(`AUTH ops ${OPS_PASSWORD}`);
  return [await ops.request('GET secret:plan'), await ops.request('GET pub:greeting')];
}

describe('the text protocol (raw socket)', () => {
  it('refuses every command before sign-in, and a wrong password, in memcached words', async () => {
    await using mc = await TextClient.connect(port);
    for (const line of ['get pub:greeting', 'version', 'stats', 'delete secret:plan', 'flush_all', 'flush_all 1']) {
      expect(await mc.request(line)).toBe('CLIENT_ERROR unauthenticated');
    }
    mc.write(signInSet('app', 'wrong-password'));
    expect(await mc.readLine()).toBe('CLIENT_ERROR authentication failure');
    mc.write(signInSet('nobody', APP_PASSWORD));
    expect(await mc.readLine()).toBe('CLIENT_ERROR authentication failure');
    expect(await mc.request('get pub:greeting')).toBe('CLIENT_ERROR unauthenticated');
    expect(await untouched()).toEqual(['VALUE unchanged', 'VALUE hello']);
  });

  it('signs in with the first set, then reads and writes only its prefixes; flush_all needs admin', async () => {
    await using mc = await TextClient.connect(port);
    mc.write(signInSet('app', APP_PASSWORD));
    expect(await mc.readLine()).toBe('STORED');
    mc.write('set app:k 3 0 2\r\nv1\r\n');
    expect(await mc.readLine()).toBe('STORED');
    mc.send('get app:k pub:greeting');
    expect(await mc.readUntil('END')).toEqual(['VALUE app:k 3 2', 'v1', 'VALUE pub:greeting 0 5', 'hello', 'END']);
    mc.write('set pub:greeting 0 0 1\r\nx\r\n');
    expect(await mc.readLine()).toBe("CLIENT_ERROR user 'app' may not write key 'pub:greeting'");
    expect(await mc.request('get secret:plan')).toBe("CLIENT_ERROR user 'app' may not read key 'secret:plan'");
    expect(await mc.request('delete secret:plan')).toBe("CLIENT_ERROR user 'app' may not write key 'secret:plan'");
    expect(await mc.request('incr secret:plan 1')).toBe("CLIENT_ERROR user 'app' may not write key 'secret:plan'");
    expect(await mc.request('flush_all')).toBe(ADMIN_REFUSAL);
    expect(await mc.request('flush_all 1')).toBe(ADMIN_REFUSAL);
    expect(await untouched()).toEqual(['VALUE unchanged', 'VALUE hello']);
  });
});

describe('the binary protocol (memjs, SASL PLAIN)', () => {
  const silent = { log: () => undefined };

  it('signs memjs in with its username and password; the user is checked per key', async () => {
    const client = memjs.Client.create(`127.0.0.1:${port}`, { username: 'app', password: APP_PASSWORD, retries: 0, timeout: 10, logger: silent });
    try {
      expect(await client.set('app:memjs', 'one', { expires: 0 })).toBe(true);
      expect((await client.get('app:memjs')).value?.toString()).toBe('one');
      expect((await client.get('pub:greeting')).value?.toString()).toBe('hello');
      await expect(client.set('pub:greeting', 'x', { expires: 0 })).rejects.toThrow(/MemJS SET/);
      await expect(client.get('secret:plan')).rejects.toThrow(/MemJS GET/);
      await expect(client.delete('secret:plan')).rejects.toThrow(/MemJS DELETE/);
      // memjs takes any answer to flush as done: what counts is that nothing was flushed.
      await client.flush();
      expect(await untouched()).toEqual(['VALUE unchanged', 'VALUE hello']);
    } finally {
      client.close();
    }
  });

  it('refuses memjs without credentials, and with a wrong password', async () => {
    for (const credentials of [{}, { username: 'app', password: 'wrong-password' }]) {
      const client = memjs.Client.create(`127.0.0.1:${port}`, { ...credentials, retries: 0, timeout: 10, logger: silent });
      try {
        // memjs rejects with a string here, not an Error.
        const outcome = await client.get('pub:greeting').then(
          () => 'read',
          (err: unknown) => String(err),
        );
        expect(outcome).toMatch(/authentication failed/);
      } finally {
        client.close();
      }
    }
  });
});

describe("Debian's Python clients", () => {
  it('pymemcache signs in with a set of "user password" (ASCII auth)', async () => {
    expect(await python(PYMEMCACHE, port)).toBe('ok');
  });

  it('pylibmc signs in over SASL PLAIN with username and password (binary protocol)', async () => {
    expect(await python(PYLIBMC, port)).toBe('ok');
    expect(await untouched()).toEqual(['VALUE unchanged', 'VALUE hello']);
  });
});

describe('failed sign-ins', () => {
  it('are limited per address, on every protocol at once; other addresses still sign in', async () => {
    // From 127.0.0.2, so that the other tests' address keeps its own allowance.
    for (let i = 0; i < 10; i++) {
      expect(await firstLineFrom('127.0.0.2', port, signInSet('app', `wrong-${i}`))).toBe('CLIENT_ERROR authentication failure');
    }
    expect(await firstLineFrom('127.0.0.2', port, signInSet('app', APP_PASSWORD))).toMatch(
      /^CLIENT_ERROR authentication failure: too many failed sign-ins from this address: try again in \d+ s$/,
    );
    expect(await firstLineFrom('127.0.0.2', node.ports.merklekv, `AUTH app ${APP_PASSWORD}\r\n`)).toMatch(/^ERROR too many failed sign-ins from this address/);
    expect(await firstLineFrom('127.0.0.1', port, signInSet('app', APP_PASSWORD))).toBe('STORED');
  });
});

describe('an admin', () => {
  it('flushes over memcached', async () => {
    await using mc = await TextClient.connect(port);
    mc.write(signInSet('ops', OPS_PASSWORD));
    expect(await mc.readLine()).toBe('STORED');
    expect(await mc.request('flush_all')).toBe('OK');
    expect(await mc.request('get secret:plan')).toBe('END');
  });
});
