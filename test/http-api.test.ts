import { randomBytes } from 'node:crypto';
import { startNode, type NodeProcess } from '#testing';
import { RawClient } from './support/raw-client.js';

/** The body of an error response. */
async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  return ((await res.json()) as { error: { code: string; message: string } }).error;
}

describe('HTTP/JSON API', () => {
  let node: NodeProcess;
  let base: string;
  beforeAll(async () => {
    node = await startNode({ args: ['--engine', 'rocksdb'] });
    base = `http://127.0.0.1:${node.ports.http}`;
  });
  afterAll(async () => {
    await node?.[Symbol.asyncDispose]();
  });

  const put = (key: string, body: NonNullable<RequestInit['body']>): Promise<Response> => fetch(`${base}/v1/kv/${encodeURIComponent(key)}`, { method: 'PUT', body });

  it('stores and returns binary values byte for byte', async () => {
    const value = randomBytes(4096);
    expect((await put('bin', value)).status).toBe(204);
    const res = await fetch(`${base}/v1/kv/bin`);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(value)).toBe(true);
  });

  it('keeps JSON bodies as raw text, and shares the keyspace with the text protocol', async () => {
    expect((await put('doc', '{"a": 1}')).status).toBe(204);
    await using client = await RawClient.connect(node.ports.merklekv);
    expect(await client.exchange('GET doc\r\n', 'VALUE {"a": 1}\r\n')).toBe('VALUE {"a": 1}\r\n');
    await client.exchange('SET fromtcp héllo\r\n', 'OK\r\n');
    expect(await (await fetch(`${base}/v1/kv/fromtcp`)).text()).toBe('héllo');
  });

  it('serves a value holding line feeds over HTTP, and answers ERROR for it on the text protocol', async () => {
    expect((await put('multi', 'x\r\nVALUE injected')).status).toBe(204);
    expect(await (await fetch(`${base}/v1/kv/multi`)).text()).toBe('x\r\nVALUE injected');
    await using client = await RawClient.connect(node.ports.merklekv);
    const error = 'ERROR value contains a line feed and cannot be sent on the text protocol; read it over HTTP\r\n';
    expect(await client.exchange('GET multi\r\nPING\r\n', `${error}PONG\r\n`)).toBe(`${error}PONG\r\n`);
  });

  it('answers 404 with a JSON error for a missing key, on GET and DELETE', async () => {
    const res = await fetch(`${base}/v1/kv/absent`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: { code: 'NOT_FOUND', message: "key 'absent' not found" } });
    expect((await fetch(`${base}/v1/kv/absent`, { method: 'DELETE' })).status).toBe(404);
  });

  it('deletes', async () => {
    await put('gone', 'x');
    expect((await fetch(`${base}/v1/kv/gone`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${base}/v1/kv/gone`)).status).toBe(404);
  });

  it('increments with a JSON amount and reports 64-bit values as strings', async () => {
    const incr = (key: string, body?: string): Promise<Response> =>
      fetch(`${base}/v1/kv/${key}/incr`, { method: 'POST', ...(body === undefined ? {} : { body, headers: { 'content-type': 'application/json' } }) });
    const first = await incr('hits');
    expect(first.status).toBe(200);
    expect(await first.json()).toEqual({ key: 'hits', value: '1' });
    expect(await (await incr('hits', '{"amount": 41}')).json()).toEqual({ key: 'hits', value: '42' });
    expect(await (await incr('hits', '{"amount": "-9000000000000000000"}')).json()).toEqual({ key: 'hits', value: '-8999999999999999958' });
    const bad = await incr('hits', '{"amount": 1.5}');
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).code).toBe('BAD_REQUEST');
    await put('word', 'abc');
    const nan = await incr('word');
    expect(nan.status).toBe(409);
    expect(await errorOf(nan)).toEqual({ code: 'NOT_A_NUMBER', message: "Value for key 'word' is not a valid number" });
  });

  it('refuses an increment body that is not exactly {"amount": n} and leaves the counter alone', async () => {
    const incr = (body: string, contentType = 'application/json'): Promise<Response> =>
      fetch(`${base}/v1/kv/strict/incr`, { method: 'POST', body, headers: { 'content-type': contentType } });
    expect(await (await incr('{}')).json()).toEqual({ key: 'strict', value: '1' });
    for (const body of ['[]', '['.repeat(10_000) + ']'.repeat(10_000), '', 'null', '7', '{"amout": 5}']) {
      const res = await incr(body);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('BAD_REQUEST');
    }
    const empty = await incr('', 'text/plain');
    expect(empty.status).toBe(400);
    expect(await (await fetch(`${base}/v1/kv/strict`)).text()).toBe('1');
  });

  it('pages through a prefix scan in key order', async () => {
    for (let i = 0; i < 25; i++) await put(`page:${String(i).padStart(2, '0')}`, 'v');
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const url: string = `${base}/v1/kv?prefix=page:&limit=10${cursor ? `&cursor=${cursor}` : ''}`;
      const body = (await (await fetch(url)).json()) as { keys: string[]; cursor: string | null };
      seen.push(...body.keys);
      cursor = body.cursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `page:${String(i).padStart(2, '0')}`));
    expect((await fetch(`${base}/v1/kv?limit=0`)).status).toBe(400);
  });

  it('refuses keys with whitespace and oversized bodies', async () => {
    const res = await put('a b', 'v');
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('BAD_REQUEST');
    // The node refuses on the Content-Length alone and closes; a client still uploading the rest
    // (fetch) may hit the closed socket before it reads the answer, so this one sends a part only.
    await using client = await RawClient.connect(node.ports.http);
    client.write(`PUT /v1/kv/big HTTP/1.1\r\nHost: test\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n${'a'.repeat(64 * 1024)}`);
    expect(await client.read('HTTP/1.1 413'.length)).toBe('HTTP/1.1 413');
    expect((await fetch(`${base}/v1/kv/big`)).status).toBe(404);
  });

  it('takes every key the text protocol takes, long ones included', async () => {
    await using client = await RawClient.connect(node.ports.merklekv);
    for (const key of ['k'.repeat(101), 'ключ'.repeat(2_000), `x${'é'.repeat(99_999)}`, 'y'.repeat(1_000_000)]) {
      expect((await put(key, 'long')).status).toBe(204);
      expect(await client.exchange(`GET ${key}\r\n`, 'VALUE long\r\n')).toBe('VALUE long\r\n');
      await client.exchange(`SET ${key} text\r\n`, 'OK\r\n');
      expect(await (await fetch(`${base}/v1/kv/${encodeURIComponent(key)}`)).text()).toBe('text');
      expect((await fetch(`${base}/v1/kv/${encodeURIComponent(key)}`, { method: 'DELETE' })).status).toBe(204);
    }
  });

  /** A raw request, so that the framework's own refusals (before any route runs) can be seen as sent. */
  async function rawResponse(request: string): Promise<{ status: number; body: unknown }> {
    await using client = await RawClient.connect(node.ports.http);
    client.write(request);
    await client.waitClosed(30_000).catch(() => undefined);
    const text = await client.read(1_000_000, 30_000).catch((err: Error) => err.message);
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    const length = Number(/content-length: (\d+)/i.exec(text)?.[1]);
    const start = text.indexOf('\r\n\r\n') + 4;
    return { status, body: JSON.parse(text.slice(start, start + length)) };
  }

  it.each([
    ['a path that is not percent-encoded UTF-8', 'GET /v1/kv/%ff%fe HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', 400, 'BAD_REQUEST'],
    ['a key over the limit', `GET /v1/kv/${'k'.repeat(1024 * 1024 + 1)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, 414, 'TOO_LARGE'],
    ['a request line and headers over the limit', `GET /v1/kv/a HTTP/1.1\r\nHost: t\r\nX-Big: ${'h'.repeat(4 * 1024 * 1024)}\r\n\r\n`, 431, 'TOO_LARGE'],
    ['a malformed request', 'NOT HTTP AT ALL\r\n\r\n', 400, 'BAD_REQUEST'],
    ['an unknown route', 'GET /v2/nothing HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', 404, 'NOT_FOUND'],
    ['a body over the limit', `PUT /v1/kv/big HTTP/1.1\r\nHost: t\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, 413, 'TOO_LARGE'],
  ])('answers %s with the documented error body', async (_what, request, status, code) => {
    const response = await rawResponse(request);
    expect(response.status).toBe(status);
    expect(response.body).toEqual({ error: { code, message: expect.any(String) } });
  });

  it('reports health and readiness', async () => {
    expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
  });
});
