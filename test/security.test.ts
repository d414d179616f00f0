import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import { newToken, parsePasswordHash, tokenDigest, verifyPassword } from '#config';
import { makeTempDir, makeTestCa, type NodeProcess, pem, removeDir, repoRoot, startNode, type TestCa, TextClient } from '#testing';
import { RawClient } from './support/raw-client.js';
import { APP_PASSWORD, OPS_PASSWORD, writeUsersConfig } from './support/users-config.js';

/**
 * Users, per-prefix permissions and TLS on every client protocol of a real node: the "Must be
 * true" list of issue 16 for the MerkleKV text protocol and HTTP.
 */

let dir: string;
let token: string;
let configFile: string;

beforeAll(async () => {
  dir = await makeTempDir('security');
  const issued = newToken();
  token = issued.token;
  configFile = await writeUsersConfig(dir, issued.hash);
});
afterAll(() => removeDir(dir));

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('with users configured', () => {
  let node: NodeProcess;
  let base: string;
  beforeAll(async () => {
    node = await startNode({ args: ['--config', configFile, '--log-level', 'debug'] });
    base = `http://127.0.0.1:${node.ports.http}`;
    await using ops = await TextClient.connect(node.ports.merklekv);
    expect(await ops.request(`AUTH ops ${OPS_PASSWORD}`)).toBe('OK');
    expect(await ops.request('SET pub:greeting hello')).toBe('OK');
    expect(await ops.request('SET secret:plan unchanged')).toBe('OK');
  });
  afterAll(() => node?.[Symbol.asyncDispose]());

  describe('the MerkleKV text protocol', () => {
    it('answers only PING, VERSION and AUTH before AUTH', async () => {
      await using client = await TextClient.connect(node.ports.merklekv);
      expect(await client.request('PING')).toBe('PONG');
      expect(await client.request('VERSION')).toMatch(/^VERSION \d/);
      for (const line of ['GET pub:greeting', 'SET app:x 1', 'INFO', 'SCAN app:', 'TRUNCATE']) {
        expect(await client.request(line)).toBe('ERROR authentication required');
      }
    });

    it('refuses a wrong password and an unknown user alike', async () => {
      await using client = await TextClient.connect(node.ports.merklekv);
      expect(await client.request('AUTH app wrong-password')).toBe('ERROR invalid user name or password');
      expect(await client.request(`AUTH nobody ${APP_PASSWORD}`)).toBe('ERROR invalid user name or password');
      expect(await client.request('GET pub:greeting')).toBe('ERROR authentication required');
    });

    it('reads and writes an allowed prefix; a forbidden one is refused and unchanged', async () => {
      await using client = await TextClient.connect(node.ports.merklekv);
      // Pipelined behind AUTH: the commands wait for it.
      client.write(`AUTH app ${APP_PASSWORD}\r\nSET app:k v1\r\nGET app:k\r\nGET pub:greeting\r\n`);
      expect(await client.readLines(4)).toEqual(['OK', 'OK', 'VALUE v1', 'VALUE hello']);
      expect(await client.request('SET pub:greeting changed')).toBe("ERROR user 'app' may not write key 'pub:greeting'");
      expect(await client.request('SET secret:plan changed')).toBe("ERROR user 'app' may not write key 'secret:plan'");
      expect(await client.request('GET secret:plan')).toBe("ERROR user 'app' may not read key 'secret:plan'");
      expect(await client.request('MGET app:k secret:plan')).toBe("ERROR user 'app' may not read key 'secret:plan'");
      expect(await client.request('SCAN')).toBe("ERROR user 'app' may not read every key under prefix ''");
      expect(await client.request('SCAN app:')).toBe('KEYS 1');
      expect(await client.readLine()).toBe('app:k');
      await using ops = await TextClient.connect(node.ports.merklekv);
      await ops.request(`AUTH ops ${OPS_PASSWORD}`);
      expect(await ops.request('GET secret:plan')).toBe('VALUE unchanged');
      expect(await ops.request('GET pub:greeting')).toBe('VALUE hello');
    });

    it('refuses admin commands to a non-admin', async () => {
      await using client = await TextClient.connect(node.ports.merklekv);
      await client.request(`AUTH app ${APP_PASSWORD}`);
      for (const [line, word] of [['TRUNCATE', 'TRUNCATE'], ['FLUSHDB', 'TRUNCATE'], ['SHUTDOWN', 'SHUTDOWN'], ['CLIENT LIST', 'CLIENT LIST'], ['REPLICATE status', 'REPLICATE'], ['SYNC 127.0.0.1 1', 'SYNC']] as const) {
        expect(await client.request(line)).toBe(`ERROR user 'app' may not run ${word}: it needs admin on every key (prefix "")`);
      }
      expect(await client.request('GET pub:greeting')).toBe('VALUE hello');
    });
  });

  describe('HTTP', () => {
    it('answers 401 with the error body and a challenge without credentials or with wrong ones', async () => {
      for (const headers of [{} as Record<string, string>, { authorization: basic('app', 'wrong') }, { authorization: 'Bearer not-a-token' }, { authorization: 'Digest x' }]) {
        const res = await fetch(`${base}/v1/kv/pub:greeting`, { headers });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Basic');
        expect((await errorOf(res)).code).toBe('UNAUTHENTICATED');
      }
      expect((await fetch(`${base}/v1/cluster`)).status).toBe(401);
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    });

    it('reads and writes an allowed prefix with Basic and Bearer; a forbidden one is 403 and unchanged', async () => {
      const app = { authorization: basic('app', APP_PASSWORD) };
      expect((await fetch(`${base}/v1/kv/app:h`, { method: 'PUT', body: 'v', headers: app })).status).toBe(204);
      expect(await (await fetch(`${base}/v1/kv/app:h`, { headers: { authorization: `Bearer ${token}` } })).text()).toBe('v');
      expect(await (await fetch(`${base}/v1/kv/pub:greeting`, { headers: app })).text()).toBe('hello');
      const refused = await fetch(`${base}/v1/kv/secret:plan`, { method: 'PUT', body: 'changed', headers: app });
      expect(refused.status).toBe(403);
      expect(await errorOf(refused)).toEqual({ code: 'FORBIDDEN', message: "user 'app' may not write key 'secret:plan'" });
      expect((await fetch(`${base}/v1/kv?prefix=`, { headers: app })).status).toBe(403);
      expect(await (await fetch(`${base}/v1/kv?prefix=app:`, { headers: app })).json()).toEqual({ keys: ['app:h', 'app:k'], cursor: null });
      const ops = { authorization: basic('ops', OPS_PASSWORD) };
      expect(await (await fetch(`${base}/v1/kv/secret:plan`, { headers: ops })).text()).toBe('unchanged');
      expect((await fetch(`${base}/v1/cluster`, { headers: app })).status).toBe(200);
    });
  });

  it('keeps passwords and tokens out of logs, INFO, STATS, CLIENT LIST, /v1/cluster and /metrics', async () => {
    await using ops = await TextClient.connect(node.ports.merklekv);
    await ops.request(`AUTH ops ${OPS_PASSWORD}`);
    const outputs: string[] = [node.logs()];
    for (const line of ['INFO', 'STATS', 'CLIENT LIST']) {
      // A PING after it marks where the multi-line reply ends.
      ops.write(`${line}\r\nPING\r\n`);
      outputs.push((await ops.readUntil('PONG')).join('\n'));
    }
    const ok = { authorization: basic('ops', OPS_PASSWORD) };
    outputs.push(await (await fetch(`${base}/v1/cluster`, { headers: ok })).text());
    outputs.push(await (await fetch(`${base}/metrics`, { headers: ok })).text());
    const everything = outputs.join('\n');
    expect(everything).toContain('uptime');
    for (const secret of [APP_PASSWORD, OPS_PASSWORD, token]) expect(everything).not.toContain(secret);
  });
});

describe('max_connections', () => {
  it('refuses one connection more on each listener with a clear error, and takes new ones once others close', async () => {
    await using node = await startNode({ args: ['--max-connections', '2'] });
    const first = await TextClient.connect(node.ports.merklekv);
    await using second = await TextClient.connect(node.ports.merklekv);
    await using third = await TextClient.connect(node.ports.merklekv);
    expect(await third.readLine()).toBe('ERROR max connections reached (2)');
    await third.closed;
    await first.close();
    await expect(pollUntilAccepted(node.ports.merklekv)).resolves.toBe('PONG');
    expect(await second.request('PING')).toBe('PONG');

    const idle = await Promise.all([RawClient.connect(node.ports.http), RawClient.connect(node.ports.http)]);
    await using refused = await RawClient.connect(node.ports.http);
    const reply = await refused.readUntil('}}');
    expect(reply).toMatch(/^HTTP\/1.1 503 /);
    expect(reply).toContain('{"error":{"code":"OVERLOADED","message":"max connections reached (2)"}}');
    for (const socket of idle) socket.socket.destroy();
  });
});

/** PING on a new connection until one is accepted (a closed connection is released asynchronously). */
async function pollUntilAccepted(port: number): Promise<string> {
  const deadline = Date.now() + 5000;
  for (;;) {
    await using client = await TextClient.connect(port);
    const reply = await client.request('PING');
    if (reply === 'PONG' || Date.now() > deadline) return reply;
  }
}

describe('with no users configured', () => {
  it('works as before: no AUTH needed, and AUTH says there is nothing to sign in to', async () => {
    await using node = await startNode();
    await using client = await TextClient.connect(node.ports.merklekv);
    expect(await client.request('SET k v')).toBe('OK');
    expect(await client.request('GET k')).toBe('VALUE v');
    expect(await client.request('AUTH a b')).toBe('ERROR AUTH failed: no users are configured on this node');
    expect((await fetch(`http://127.0.0.1:${node.ports.http}/v1/kv/k`)).status).toBe(200);
  });
});

/** An HTTPS GET with its own TLS options; resolves with the status, or rejects as the handshake fails. */
function httpsGet(port: number, path: string, tls: ConnectionOptions, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, headers, ...tls, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The SHA-256 fingerprint of the certificate a TLS listener presents now. */
function servedFingerprint(port: number, ca: string, client: { cert: string; key: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, ca, ...client }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

describe('TLS on the client listeners', () => {
  let ca: TestCa;
  let wrongCa: TestCa;
  let node: NodeProcess;
  let client: { cert: string; key: string };
  const serverCert = (): string => join(dir, 'server.pem');
  beforeAll(async () => {
    ca = makeTestCa(dir, 'good');
    wrongCa = makeTestCa(dir, 'wrong');
    ca.issue('server', { server: true });
    const issued = ca.issue('client');
    client = { cert: pem(issued.cert), key: pem(issued.key) };
    node = await startNode({
      args: ['--config', configFile, '--tls-cert', serverCert(), '--tls-key', join(dir, 'server.key'), '--tls-ca', ca.cert],
    });
  });
  afterAll(() => node?.[Symbol.asyncDispose]());

  const trusted = (): ConnectionOptions => ({ ca: pem(ca.cert), ...client });

  it('serves the text protocol and HTTP to a client that trusts the CA and shows a certificate it signed', async () => {
    await using text = await TextClient.connect(node.ports.merklekv, { tls: trusted() });
    expect(await text.request(`AUTH app ${APP_PASSWORD}`)).toBe('OK');
    expect(await text.request('GET pub:greeting')).toBe('NOT_FOUND');
    const res = await httpsGet(node.ports.http, '/v1/kv/app:none', trusted(), { authorization: basic('app', APP_PASSWORD) });
    expect(res.status).toBe(404);
  });

  it('is refused by a client that trusts another CA, and refuses a client certificate another CA signed', async () => {
    await expect(TextClient.connect(node.ports.merklekv, { tls: { ca: pem(wrongCa.cert), ...client } })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
    await expect(httpsGet(node.ports.http, '/healthz', { ca: pem(wrongCa.cert), ...client })).rejects.toThrow(/self-signed|unable to verify|certificate/i);
    const stranger = wrongCa.issue('stranger');
    const foreign = { ca: pem(ca.cert), cert: pem(stranger.cert), key: pem(stranger.key) };
    // TLS 1.3 reports a refused client certificate after the handshake: the first read fails.
    const outcome = await TextClient.connect(node.ports.merklekv, { tls: foreign }).then(
      async (c) => c.request('PING', 3000).finally(() => c.close()),
      (err: Error) => err,
    ).catch((err: Error) => err);
    expect(outcome).toBeInstanceOf(Error);
    await expect(httpsGet(node.ports.http, '/healthz', foreign)).rejects.toThrow();
  });

  it('speaks only TLS: plaintext gets no reply and is closed', async () => {
    await using raw = await RawClient.connect(node.ports.merklekv);
    raw.write('PING\r\n');
    expect(await raw.read(64)).not.toContain('PONG');
    expect(raw.closed).toBe(true);
    await expect(fetch(`http://127.0.0.1:${node.ports.http}/healthz`)).rejects.toThrow();
  });

  it('serves a new certificate to new connections after SIGHUP, and keeps the open ones', async () => {
    await using open = await TextClient.connect(node.ports.merklekv, { tls: trusted() });
    const before = await servedFingerprint(node.ports.merklekv, pem(ca.cert), client);
    ca.issue('server', { server: true });
    process.kill(node.pid, 'SIGHUP');
    await node.waitForLine('TLS certificates reloaded');
    const after = await servedFingerprint(node.ports.merklekv, pem(ca.cert), client);
    expect(after).not.toBe(before);
    expect(await servedFingerprint(node.ports.http, pem(ca.cert), client)).toBe(after);
    expect(await open.request('PING')).toBe('PONG');
    writeFileSync(serverCert(), 'not a certificate');
    process.kill(node.pid, 'SIGHUP');
    await node.waitForLine('TLS certificates not reloaded');
    expect(await servedFingerprint(node.ports.merklekv, pem(ca.cert), client)).toBe(after);
  });
});

describe('the shipped secret command', () => {
  const secret = (args: string[], input = ''): string => execFileSync(process.execPath, [join(repoRoot(), 'dist', 'apps', 'node', 'src', 'secret.js'), ...args], { input, encoding: 'utf8' });

  it('makes a password hash that verifies the password read from stdin, and only it', async () => {
    const line = secret(['password'], 'a pass phrase\n');
    const text = /^password_hash = "(.+)"\n$/.exec(line)?.[1] ?? '';
    const hash = parsePasswordHash(text);
    if (typeof hash === 'string') throw new Error(hash);
    expect(hash.logN).toBe(15);
    expect(await verifyPassword('a pass phrase', hash)).toBe(true);
    expect(await verifyPassword('a pass phrasf', hash)).toBe(false);
  });

  it('makes a token and the hash the config keeps of it', () => {
    const [comment, line] = secret(['token']).trimEnd().split('\n');
    const token = /Bearer (\S+)$/.exec(comment ?? '')?.[1] ?? '';
    expect(token).toHaveLength(43);
    expect(line).toBe(`token_hashes = ["sha256:${tokenDigest(token).toString('hex')}"]`);
  });
});
