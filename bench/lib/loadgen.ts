/**
 * A closed-loop load generator for the text protocols.
 *
 * Each of N TCP connections keeps `depth` requests in flight (default 1: plain
 * request/response): a new request leaves as soon as a reply completes, so the offered load
 * adapts to the server and the figure measured is its throughput at that concurrency. Latency
 * is send-to-complete-reply per request, recorded into a log-linear histogram (no per-sample
 * storage). A run is either timed (an unrecorded warm-up, then a measured window; replies
 * after the window are drained but not counted) or counted (exactly `requests` requests over
 * keys 0, 1, 2, … in turn: the preload).
 *
 * The generator is one event loop. On a small machine it competes with the server for CPU, so
 * callers run it in worker threads (`runLoadInWorkers`) outside the server processes, report
 * how much CPU it used, and compare servers with the same generator and the same settings.
 */
import { createConnection, type OnReadOpts, type Socket } from 'node:net';
import { type ConnectionOptions, connect as connectTls } from 'node:tls';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { LatencyHistogram, type HistogramSnapshot } from './histogram.js';
import { protocols, Reply, type Protocol, type ProtocolName } from './protocols.js';

export type LoadOp = 'get' | 'set';

export interface LoadOptions {
  readonly port: number;
  readonly host?: string;
  readonly protocol: ProtocolName;
  readonly op: LoadOp;
  readonly connections: number;
  /** Requests in flight per connection (default 1). */
  readonly depth?: number;
  /** Size of the keyspace; keys are `<keyPrefix><index, 8 digits>`. */
  readonly keys: number;
  readonly valueBytes: number;
  readonly keyPrefix?: string;
  /** Timed run: the measured window. */
  readonly durationMs?: number;
  /** Timed run: unrecorded load before the window (default 0). */
  readonly warmupMs?: number;
  /** Counted run instead: exactly this many requests, the i-th on key i mod keys. */
  readonly requests?: number;
  /** Seeds the per-connection key choice (default 1). */
  readonly seed?: number;
  /** Fail when no reply arrives for this long while requests are in flight (default 10 s). */
  readonly stallTimeoutMs?: number;
  /** Connect over TLS, trusting this CA (PEM text). */
  readonly tlsCa?: string;
  /** Sign each connection in first (the protocol's own way), before any timing. */
  readonly auth?: { readonly user: string; readonly password: string };
}

/** tls.connect takes `onread` as net.connect does (Node 15.1 on); @types/node does not say so yet. */
type TlsConnectOptions = ConnectionOptions & { readonly onread: OnReadOpts };

type Connection = Pick<LoadOptions, 'port' | 'tlsCa' | 'auth' | 'protocol'> & { readonly host: string };

export interface LoadResult {
  readonly protocol: ProtocolName;
  readonly op: LoadOp;
  readonly connections: number;
  readonly depth: number;
  /** Replies completed in the measured window. */
  readonly ops: number;
  /** Every reply of the run, the warm-up's and the last in flight after the window too: what a server's CPU over the whole run was spent on. */
  readonly replies: number;
  /** Length of the measured window. */
  readonly seconds: number;
  readonly opsPerSec: number;
  /** Error replies (ERROR, CLIENT_ERROR, …) in the window. */
  readonly errors: number;
  /** GETs answered "not found" in the window. */
  readonly misses: number;
  /** Latency in microseconds. */
  readonly histogram: HistogramSnapshot;
}

/** Distinct requests worth encoding once; a larger keyspace is encoded per request. */
const PRECOMPUTE_LIMIT = 1 << 16;
const VALUE_ALPHABET = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export const benchKey = (prefix: string, index: number): string => `${prefix}${String(index).padStart(8, '0')}`;

/** A deterministic printable value (no spaces: it survives the MerkleKV line trim intact). */
export function benchValue(index: number, bytes: number): Buffer {
  const value = Buffer.allocUnsafe(bytes);
  for (let i = 0; i < bytes; i += 1) value[i] = VALUE_ALPHABET.charCodeAt((index + i * 7) % VALUE_ALPHABET.length);
  return value;
}

/** Encodes the request for key `index`, from a table when the keyspace is small. */
function requestEncoder(protocol: Protocol, options: LoadOptions): (index: number) => Buffer {
  const prefix = options.keyPrefix ?? 'bench:';
  const encode =
    options.op === 'get'
      ? (i: number) => protocol.getRequest(benchKey(prefix, i))
      : (i: number) => protocol.setRequest(benchKey(prefix, i), benchValue(i, options.valueBytes));
  if (options.keys > PRECOMPUTE_LIMIT) return encode;
  const table = Array.from({ length: options.keys }, (_, i) => encode(i));
  return (i) => table[i] as Buffer;
}

/**
 * Connects with a fixed receive buffer per socket (`onread`), over TLS too: no allocation and
 * no stream machinery per read, and the same read path for both, so that a secured ratio
 * compares transports rather than two ways of reading. The reply parsers copy what they keep,
 * so handing them a view of a reused buffer is safe. With `auth`, the connection signs in first.
 */
async function connect(target: Connection, onChunk: (chunk: Buffer) => void): Promise<Socket> {
  let deliver = onChunk;
  const socket = await new Promise<Socket>((resolve, reject) => {
    const { port, host } = target;
    const onread: OnReadOpts = {
      buffer: Buffer.allocUnsafe(64 * 1024),
      callback: (bytes: number, buffer: Uint8Array) => {
        deliver(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return true;
      },
    };
    const tlsOptions: TlsConnectOptions | undefined = target.tlsCa !== undefined ? { port, host, ca: target.tlsCa, onread } : undefined;
    const socket = tlsOptions ? connectTls(tlsOptions) : createConnection({ port, host, onread });
    socket.once('error', reject);
    socket.once(target.tlsCa !== undefined ? 'secureConnect' : 'connect', () => {
      socket.removeListener('error', reject);
      // The client side sends each request at once; the server keeps its own Nagle setting.
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
  const { auth } = target;
  if (auth === undefined) return socket;
  const signIn = protocols[target.protocol].signIn(auth.user, auth.password);
  await new Promise<void>((resolve, reject) => {
    let reply = '';
    deliver = (chunk) => {
      reply += chunk.toString('utf8');
      if (!reply.includes('\n')) return;
      deliver = onChunk;
      if (reply === signIn.accepted) resolve();
      else reject(new Error(`signing in as ${auth.user} (${target.protocol}) answered ${JSON.stringify(reply)}`));
    };
    socket.write(signIn.request);
  });
  return socket;
}

const enum Phase {
  Warmup,
  Measure,
  Drain,
}

/** Runs the load in this thread. */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const protocol = protocols[options.protocol];
  const depth = options.depth ?? 1;
  const counted = options.requests !== undefined;
  if (!counted && options.durationMs === undefined) throw new RangeError('give durationMs or requests');
  if (options.connections < 1 || depth < 1 || options.keys < 1) throw new RangeError('connections, depth and keys must be positive');
  const encode = requestEncoder(protocol, options);
  const host = options.host ?? '127.0.0.1';
  // Chunks go to the connection's handler, installed once the run is set up below.
  const onChunk: ((chunk: Buffer) => void)[] = [];
  const sockets = await Promise.all(
    Array.from({ length: options.connections }, (_, c) => connect({ ...options, host }, (chunk) => onChunk[c]?.(chunk))),
  );

  const histogram = new LatencyHistogram();
  let phase = counted || (options.warmupMs ?? 0) <= 0 ? Phase.Measure : Phase.Warmup;
  let ops = 0;
  let replies = 0;
  let errors = 0;
  let misses = 0;
  let issued = 0;
  let inFlight = 0;
  let lastProgress = performance.now();
  let windowStart = performance.now();
  let windowEnd = 0;
  const total = options.requests ?? Infinity;
  const keys = options.keys;

  return new Promise<LoadResult>((resolve, reject) => {
    let finished = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (err?: Error): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      clearInterval(watchdog);
      for (const s of sockets) s.destroy();
      if (err !== undefined) {
        reject(err);
        return;
      }
      const seconds = Math.max(1e-9, (windowEnd - windowStart) / 1000);
      resolve({
        protocol: protocol.name,
        op: options.op,
        connections: options.connections,
        depth,
        ops,
        replies,
        seconds,
        opsPerSec: ops / seconds,
        errors,
        misses,
        histogram: histogram.snapshot(),
      });
    };
    const maybeDone = (): void => {
      if (inFlight > 0) return;
      if (phase === Phase.Drain || (counted && issued >= total)) {
        if (counted) windowEnd = performance.now();
        finish();
      }
    };

    const starters = sockets.map((socket, c) => {
      // One ring of send times per connection: replies come back in request order.
      const sentAt = new Float64Array(depth);
      let head = 0;
      let pending = 0;
      let rng = ((options.seed ?? 1) * 0x9e3779b1 + c * 0x85ebca6b) | 0 || 1;
      const nextKey = (): number => {
        if (counted) return issued % keys;
        rng ^= rng << 13;
        rng ^= rng >>> 17;
        rng ^= rng << 5;
        return (rng >>> 0) % keys;
      };
      const send = (): void => {
        if (phase === Phase.Drain || issued >= total) return;
        socket.write(encode(nextKey()));
        issued += 1;
        sentAt[(head + pending) % depth] = performance.now();
        pending += 1;
        inFlight += 1;
      };
      const parser = protocol.createParser((reply) => {
        if (pending === 0) {
          finish(new Error(`${protocol.name} connection ${c}: a reply arrived with no request in flight`));
          return;
        }
        const now = performance.now();
        const started = sentAt[head] ?? now;
        head = (head + 1) % depth;
        pending -= 1;
        inFlight -= 1;
        replies += 1;
        lastProgress = now;
        if (phase === Phase.Measure) {
          ops += 1;
          histogram.record((now - started) * 1000);
          if (reply === Reply.Error) errors += 1;
          else if (reply === Reply.Miss) misses += 1;
        }
        send();
      });
      onChunk[c] =
        depth === 1
          ? (chunk) => {
              parser.feed(chunk);
              maybeDone();
            }
          : (chunk) => {
              // Requests triggered by this chunk's replies leave in one write.
              socket.cork();
              parser.feed(chunk);
              socket.uncork();
              maybeDone();
            };
      socket.on('error', (err) => finish(new Error(`${protocol.name} connection ${c}: ${err.message}`, { cause: err })));
      socket.on('close', () => finish(new Error(`${protocol.name} connection ${c} closed by the server`)));
      return (): void => {
        socket.cork();
        for (let i = 0; i < depth; i += 1) send();
        socket.uncork();
      };
    });

    const stallMs = options.stallTimeoutMs ?? 10_000;
    const watchdog = setInterval(() => {
      if (inFlight > 0 && performance.now() - lastProgress > stallMs) {
        finish(new Error(`${protocol.name}: no reply for ${stallMs} ms with ${inFlight} requests in flight`));
      }
    }, Math.min(1000, stallMs));

    if (!counted) {
      const warmupMs = options.warmupMs ?? 0;
      const durationMs = options.durationMs ?? 0;
      const startWindow = (): void => {
        phase = Phase.Measure;
        windowStart = performance.now();
        timers.push(
          setTimeout(() => {
            windowEnd = performance.now();
            phase = Phase.Drain;
            maybeDone();
          }, durationMs),
        );
      };
      if (phase === Phase.Warmup) timers.push(setTimeout(startWindow, warmupMs));
      else startWindow();
    }

    if (counted) windowStart = performance.now();
    for (const start of starters) start();
  });
}

/** The sum of several runs over the same period (one per worker), as one result. */
export function mergeResults(results: readonly LoadResult[]): LoadResult {
  const first = results[0];
  if (first === undefined) throw new RangeError('nothing to merge');
  const histogram = new LatencyHistogram();
  for (const r of results) histogram.add(LatencyHistogram.fromSnapshot(r.histogram));
  const sum = (f: (r: LoadResult) => number): number => results.reduce((acc, r) => acc + f(r), 0);
  return {
    protocol: first.protocol,
    op: first.op,
    connections: sum((r) => r.connections),
    depth: first.depth,
    ops: sum((r) => r.ops),
    replies: sum((r) => r.replies),
    seconds: Math.max(...results.map((r) => r.seconds)),
    // Each worker measured its own (nearly identical) window: rates add up.
    opsPerSec: sum((r) => r.opsPerSec),
    errors: sum((r) => r.errors),
    misses: sum((r) => r.misses),
    histogram: histogram.snapshot(),
  };
}

/**
 * Runs the load in `threads` worker threads, the connections dealt out among them, and merges
 * the results. Needs the built files (the worker is `loadgen-worker.js` beside this module);
 * `threads` 0 runs in the calling thread instead.
 */
export async function runLoadInWorkers(options: LoadOptions, threads: number): Promise<LoadResult> {
  if (threads <= 0) return runLoad(options);
  const n = Math.min(threads, options.connections);
  const shares = Array.from({ length: n }, (_, w) => Math.floor(options.connections / n) + (w < options.connections % n ? 1 : 0));
  const url = new URL('./loadgen-worker.js', import.meta.url);
  const results = await Promise.all(
    shares.map(
      (connections, w) =>
        new Promise<LoadResult>((resolve, reject) => {
          const share: LoadOptions = {
            ...options,
            connections,
            seed: (options.seed ?? 1) + w * 7919,
            ...(options.requests !== undefined ? { requests: Math.floor(options.requests / n) + (w < options.requests % n ? 1 : 0) } : {}),
          };
          const worker = new Worker(url, { workerData: share });
          let result: LoadResult | undefined;
          worker.once('message', (message: LoadResult) => (result = message));
          worker.once('error', reject);
          worker.once('exit', (code) => (result !== undefined ? resolve(result) : reject(new Error(`load worker ${w} exited with code ${code} and no result`))));
        }),
    ),
  );
  return mergeResults(results);
}

/** The figures a report wants from a result, latency in milliseconds. */
export function summarize(result: Pick<LoadResult, 'opsPerSec' | 'histogram' | 'errors' | 'misses'>): { ops_s: number; p50_ms: number; p99_ms: number; max_ms: number; errors: number; misses: number } {
  const h = LatencyHistogram.fromSnapshot(result.histogram);
  const ms = (us: number): number => Math.round(us) / 1000;
  return {
    ops_s: Math.round(result.opsPerSec),
    p50_ms: ms(h.percentile(0.5)),
    p99_ms: ms(h.percentile(0.99)),
    max_ms: ms(h.max),
    errors: result.errors,
    misses: result.misses,
  };
}
