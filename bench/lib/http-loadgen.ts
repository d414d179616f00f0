/**
 * A closed-loop load generator for the HTTP API, with the scenarios of the k6 scripts (k6/):
 *
 * - `mixed`: 80% GET, 15% PUT, 5% one page of a prefix scan, uniform keys.
 * - `hot-keys`: 90% of requests on ten hot keys (45% GET, 25% PUT, 20% increments of a hot
 *   counter), 10% GETs of the whole keyspace.
 * - `scan`: pages of 100 keys under a random prefix of a tenth of the keyspace, each
 *   connection following its cursor to the end before it picks another prefix.
 *
 * N concurrent loops (each one keep-alive connection) send a request as soon as the previous
 * one completed. Latency is send to last body byte; a GET of an absent key is a miss, any
 * other unexpected status an error. An unrecorded warm-up precedes the measured window.
 */
import { Agent, request } from 'node:http';
import { LatencyHistogram, type HistogramSnapshot } from './histogram.js';
import { benchKey, benchValue } from './loadgen.js';

export const HTTP_SCENARIOS = ['mixed', 'hot-keys', 'scan'] as const;
export type HttpScenario = (typeof HTTP_SCENARIOS)[number];

const HOT_KEYS = 10;
const SCAN_PAGE = 100;

export interface HttpLoadOptions {
  readonly port: number;
  readonly host?: string;
  readonly scenario: HttpScenario;
  readonly connections: number;
  /** Keys `<keyPrefix><index, 8 digits>`, as {@link preloadHttp} wrote them. */
  readonly keys: number;
  readonly valueBytes: number;
  readonly keyPrefix?: string;
  readonly durationMs: number;
  readonly warmupMs?: number;
  /** Seeds the per-connection choices (default 1). */
  readonly seed?: number;
}

export interface HttpLoadResult {
  readonly scenario: HttpScenario;
  readonly connections: number;
  /** Responses completed in the measured window. */
  readonly ops: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly errors: number;
  /** GETs answered 404. */
  readonly misses: number;
  /** Requests per operation (`get`, `put`, `incr`, `scan`) in the window. */
  readonly byOp: Readonly<Record<string, number>>;
  /** Latency in microseconds. */
  readonly histogram: HistogramSnapshot;
}

interface HttpCall {
  readonly op: 'get' | 'put' | 'incr' | 'scan';
  readonly method: 'GET' | 'PUT' | 'POST';
  readonly path: string;
  readonly body?: Buffer;
}

/** One connection's stream of requests for a scenario; `seen` takes each response body (for scan cursors). */
interface CallSource {
  next(): HttpCall;
  seen(call: HttpCall, status: number, body: Buffer): void;
}

const hotKey = (prefix: string, index: number): string => `${prefix}hot:${index}`;

/** xorshift32: deterministic per connection and seed. */
function random(seed: number): () => number {
  let state = seed | 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

function callSource(options: HttpLoadOptions, connection: number): CallSource {
  const rng = random((options.seed ?? 1) * 0x9e3779b1 + connection * 0x85ebca6b);
  const prefix = options.keyPrefix ?? 'bench:';
  const value = benchValue(connection, options.valueBytes);
  const key = (): string => encodeURIComponent(benchKey(prefix, Math.floor(rng() * options.keys)));
  const hot = (): string => encodeURIComponent(hotKey(prefix, Math.floor(rng() * HOT_KEYS)));
  const get = (k: string): HttpCall => ({ op: 'get', method: 'GET', path: `/v1/kv/${k}` });
  const put = (k: string): HttpCall => ({ op: 'put', method: 'PUT', path: `/v1/kv/${k}`, body: value });
  // Leading digits that a tenth of the keyspace shares: with 10,000 keys, prefixes of 1,000 keys.
  const scanDigits = 8 - Math.max(1, String(options.keys - 1).length - 1);
  const scanPrefix = (): string => benchKey(prefix, Math.floor(rng() * options.keys)).slice(0, prefix.length + scanDigits);
  let cursor: { prefix: string; cursor: string } | undefined;
  const scan = (): HttpCall => {
    const from = cursor ?? { prefix: scanPrefix(), cursor: '' };
    const query = `prefix=${encodeURIComponent(from.prefix)}&limit=${SCAN_PAGE}${from.cursor === '' ? '' : `&cursor=${from.cursor}`}`;
    return { op: 'scan', method: 'GET', path: `/v1/kv?${query}` };
  };
  return {
    next() {
      const roll = rng();
      switch (options.scenario) {
        case 'mixed':
          return roll < 0.8 ? get(key()) : roll < 0.95 ? put(key()) : scan();
        case 'hot-keys':
          if (roll < 0.45) return get(hot());
          if (roll < 0.7) return put(hot());
          if (roll < 0.9) return { op: 'incr', method: 'POST', path: `/v1/kv/${hot()}-count/incr`, body: Buffer.from('{"amount":1}') };
          return get(key());
        case 'scan':
          return scan();
      }
    },
    seen(call, status, body) {
      if (options.scenario !== 'scan' || status !== 200) return;
      const page = JSON.parse(body.toString('utf8')) as { cursor: string | null };
      const scanned = new URLSearchParams(call.path.slice(call.path.indexOf('?') + 1)).get('prefix') ?? '';
      cursor = page.cursor === null ? undefined : { prefix: scanned, cursor: page.cursor };
    },
  };
}

const EXPECTED: Record<HttpCall['op'], number> = { get: 200, put: 204, incr: 200, scan: 200 };

type Target = Pick<HttpLoadOptions, 'host' | 'port'>;

function send(agent: Agent, target: Target, call: HttpCall): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ agent, host: target.host ?? '127.0.0.1', port: target.port, method: call.method, path: call.path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(call.body);
  });
}

export async function runHttpLoad(options: HttpLoadOptions): Promise<HttpLoadResult> {
  if (options.connections < 1 || options.keys < 1 || options.durationMs <= 0) throw new RangeError('connections, keys and durationMs must be positive');
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const histogram = new LatencyHistogram();
  const byOp: Record<string, number> = {};
  let ops = 0;
  let errors = 0;
  let misses = 0;
  const began = performance.now();
  const windowStart = began + (options.warmupMs ?? 0);
  const windowEnd = windowStart + options.durationMs;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async (_, c) => {
        const source = callSource(options, c);
        while (performance.now() < windowEnd) {
          const call = source.next();
          const sent = performance.now();
          const { status, body } = await send(agent, options, call);
          const done = performance.now();
          source.seen(call, status, body);
          if (sent < windowStart || done > windowEnd) continue;
          ops += 1;
          byOp[call.op] = (byOp[call.op] ?? 0) + 1;
          histogram.record((done - sent) * 1000);
          if (status === 404 && call.op === 'get') misses += 1;
          else if (status !== EXPECTED[call.op]) errors += 1;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  const seconds = options.durationMs / 1000;
  return { scenario: options.scenario, connections: options.connections, ops, seconds, opsPerSec: ops / seconds, errors, misses, byOp, histogram: histogram.snapshot() };
}

/** Writes keys 0..keys-1 (`<keyPrefix><index>`) and the hot keys with PUTs, `connections` at a time; resolves with the number of failures. */
export async function preloadHttp(options: Pick<HttpLoadOptions, 'port' | 'host' | 'connections' | 'keys' | 'valueBytes' | 'keyPrefix'>): Promise<number> {
  const agent = new Agent({ keepAlive: true, maxSockets: options.connections });
  const prefix = options.keyPrefix ?? 'bench:';
  const keys = [...Array.from({ length: options.keys }, (_, i) => benchKey(prefix, i)), ...Array.from({ length: HOT_KEYS }, (_, i) => hotKey(prefix, i))];
  let next = 0;
  let failures = 0;
  try {
    await Promise.all(
      Array.from({ length: options.connections }, async () => {
        for (let i = next++; i < keys.length; i = next++) {
          const call: HttpCall = { op: 'put', method: 'PUT', path: `/v1/kv/${encodeURIComponent(keys[i]!)}`, body: benchValue(i, options.valueBytes) };
          if ((await send(agent, options, call)).status !== 204) failures += 1;
        }
      }),
    );
  } finally {
    agent.destroy();
  }
  return failures;
}
