import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { preloadHttp, runHttpLoad } from './http-loadgen.js';
import { benchKey } from './loadgen.js';

/** The HTTP API's key-value routes over a Map, answering like a node; `failing` makes every PUT a 500. */
async function fakeApi(): Promise<{ port: number; store: Map<string, string>; scans: string[]; failing: { puts: boolean }; close(): Promise<void> }> {
  const store = new Map<string, string>();
  const scans: string[] = [];
  const failing = { puts: false };
  const answer = (req: IncomingMessage, body: string, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://x');
    const match = /^\/v1\/kv\/([^/]+)(\/incr)?$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/v1/kv') {
      scans.push(url.search);
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Number(url.searchParams.get('limit'));
      const after = url.searchParams.has('cursor') ? Buffer.from(url.searchParams.get('cursor')!, 'base64url').toString() : '';
      const keys = [...store.keys()].filter((k) => k.startsWith(prefix) && k > after).sort();
      const page = keys.slice(0, limit);
      res.end(JSON.stringify({ keys: page, cursor: keys.length > limit ? Buffer.from(page[page.length - 1]!).toString('base64url') : null }));
      return;
    }
    const key = decodeURIComponent(match?.[1] ?? '');
    if (req.method === 'PUT' && failing.puts) res.writeHead(500).end();
    else if (req.method === 'PUT') {
      store.set(key, body);
      res.writeHead(204).end();
    }
    else if (req.method === 'POST' && match?.[2]) {
      store.set(key, String(Number(store.get(key) ?? 0) + 1));
      res.end(JSON.stringify({ key, value: store.get(key) }));
    } else if (store.has(key)) res.end(store.get(key));
    else res.writeHead(404).end();
  };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => answer(req, body, res));
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : 0,
    store,
    scans,
    failing,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('the HTTP load generator', () => {
  it('preloads every key, then runs each scenario with the operations it promises', async () => {
    const api = await fakeApi();
    try {
      expect(await preloadHttp({ port: api.port, connections: 4, keys: 200, valueBytes: 16 })).toBe(0);
      expect(api.store.size).toBe(210);
      expect(api.store.get(benchKey('bench:', 199))).toHaveLength(16);
      const common = { port: api.port, connections: 3, keys: 200, valueBytes: 16, durationMs: 300 };

      // Long enough for a sample in which the mix shows even on a busy machine (3 operations in 300 ms were seen).
      const mixed = await runHttpLoad({ ...common, scenario: 'mixed', durationMs: 2000 });
      expect(mixed).toMatchObject({ errors: 0, misses: 0 });
      expect(mixed.byOp['get']).toBeGreaterThan(mixed.byOp['put'] ?? 0);
      expect(mixed.ops).toBe(Object.values(mixed.byOp).reduce((a, b) => a + b, 0));

      const hot = await runHttpLoad({ ...common, scenario: 'hot-keys', warmupMs: 50 });
      expect(hot).toMatchObject({ errors: 0, misses: 0 });
      expect(hot.byOp['incr']).toBeGreaterThan(0);
      const hotKeys = [...api.store.keys()].filter((k) => k.startsWith('bench:hot:'));
      expect(hotKeys.length).toBeLessThanOrEqual(20);

      api.scans.length = 0;
      const scan = await runHttpLoad({ ...common, scenario: 'scan' });
      expect(scan).toMatchObject({ errors: 0, byOp: { scan: scan.ops } });
      // 200 keys: prefixes of 100 keys (000000.., 000001..), each one page: no cursor to follow.
      expect(api.scans.every((q) => /^\?prefix=bench%3A00000[01]&limit=100$/.test(q))).toBe(true);
    } finally {
      await api.close();
    }
  }, 20_000);

  it('follows scan cursors to the end of a prefix, and counts unexpected statuses as errors', async () => {
    const api = await fakeApi();
    try {
      await preloadHttp({ port: api.port, connections: 4, keys: 2000, valueBytes: 8 });
      await runHttpLoad({ port: api.port, connections: 1, keys: 2000, valueBytes: 8, durationMs: 300, scenario: 'scan' });
      expect(api.scans.some((q) => q.includes('&cursor='))).toBe(true);
      api.failing.puts = true;
      const failing = await runHttpLoad({ port: api.port, connections: 2, keys: 2000, valueBytes: 8, durationMs: 300, scenario: 'hot-keys' });
      expect(failing.errors).toBe(failing.byOp['put']);
      expect(failing.errors).toBeGreaterThan(0);
    } finally {
      await api.close();
    }
  }, 20_000);
});
