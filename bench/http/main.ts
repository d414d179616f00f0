/**
 * bench:http: the HTTP API under the k6 scripts' scenarios (mixed, hot keys, scans), with
 * tracing off and with tracing on, same load, same machine, same run.
 *
 * Starts two standalone nodes (RocksDB, temp data dirs): `untraced` without an OTLP endpoint,
 * `traced` exporting every span to a collector in this process that takes and discards them.
 * Preloads the same keyspace into both, then runs each scenario on each with the same
 * closed-loop generator (an unrecorded warm-up, then the measured window), alternating which
 * node goes first from one scenario to the next. Prints one JSON line: ops/s and p50/p99 latency
 * per node and scenario, and the ratios traced/untraced, i.e. what tracing costs when it is on.
 *
 * The generator runs in this process, beside the collector; the CPU it used is reported
 * (`loadgen_cpu`, in cores).
 *
 *   npm run bench:http -- --connections 32 --seconds 5 --keys 10000 --value-bytes 100 --scenario mixed --scenario scan
 */
import { createServer } from 'node:http';
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { type NodeProcess, startNode } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { HTTP_SCENARIOS, type HttpScenario, preloadHttp, runHttpLoad } from '../lib/http-loadgen.js';
import { summarize } from '../lib/loadgen.js';

const flags = benchCommandLine({
  bench: 'http',
  flags: {
    connections: { hint: 'N', description: 'concurrent keep-alive connections per node', default: '32' },
    seconds: { hint: 'S', description: 'measured seconds per scenario and node', default: '5' },
    warmup: { hint: 'S', description: 'unrecorded seconds before each', default: '1' },
    keys: { hint: 'N', description: 'keyspace size, preloaded into both nodes', default: '10000' },
    'value-bytes': { hint: 'N', description: 'value size', default: '100' },
    scenario: { hint: 'NAME', description: `${HTTP_SCENARIOS.join(', ')} (default all)`, multiple: true },
  },
});

const scenarios = flags.scenario.length > 0 ? flags.scenario : [...HTTP_SCENARIOS];
for (const name of scenarios) {
  if (!(HTTP_SCENARIOS as readonly string[]).includes(name)) {
    process.stderr.write(`--scenario must be one of ${HTTP_SCENARIOS.join(', ')}, got ${JSON.stringify(name)}\n`);
    process.exit(2);
  }
}

const settings = {
  connections: Math.floor(positive('connections', flags.connections)),
  seconds: positive('seconds', flags.seconds),
  warmup: positive('warmup', flags.warmup, true),
  keys: Math.floor(positive('keys', flags.keys)),
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
};

const progress = (message: string): void => {
  process.stderr.write(`[bench:http] ${message}\n`);
};

type Variant = 'untraced' | 'traced';

/** An OTLP/HTTP endpoint that accepts every export and keeps only counts. */
async function startSink(): Promise<{ endpoint: string; exports: () => number } & AsyncDisposable> {
  let exports = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      exports += 1;
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const address = server.address();
  return {
    endpoint: `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`,
    exports: () => exports,
    [Symbol.asyncDispose]: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

async function phase(node: NodeProcess, variant: Variant, scenario: HttpScenario, seed: number): Promise<Record<string, number>> {
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const result = await runHttpLoad({
    port: node.ports.http,
    scenario,
    connections: settings.connections,
    keys: settings.keys,
    valueBytes: settings.valueBytes,
    warmupMs: settings.warmup * 1000,
    durationMs: settings.seconds * 1000,
    seed,
  });
  const cpu = process.cpuUsage(cpuBefore);
  const cores = Math.round(((cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore)) * 100) / 100;
  const s = summarize(result);
  progress(`${variant} ${scenario}: ${s.ops_s} ops/s, p50 ${s.p50_ms} ms, p99 ${s.p99_ms} ms, errors ${s.errors}, misses ${s.misses}, loadgen ${cores} cores`);
  return { ...s, loadgen_cpu: cores };
}

async function main(): Promise<void> {
  progress(`settings ${JSON.stringify({ ...settings, scenarios })}`);
  // Disposed last: the traced node exports its last spans as it stops.
  await using sink = await startSink();
  const live: NodeProcess[] = [];
  onInterrupt('http', () => {
    for (const node of live) {
      killQuietly(node.pid);
      rmSync(node.dataDir, { recursive: true, force: true });
    }
  });
  await using untraced = await startNode({ args: ['--engine', 'rocksdb'], readyTimeoutMs: 30_000 });
  live.push(untraced);
  await using traced = await startNode({ args: ['--engine', 'rocksdb'], readyTimeoutMs: 30_000, env: { OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint } });
  live.push(traced);
  const nodes: Record<Variant, NodeProcess> = { untraced, traced };
  for (const [variant, node] of Object.entries(nodes)) {
    if (node.readyLine['tracing'] !== (variant === 'traced')) throw new Error(`${variant} node reports tracing ${String(node.readyLine['tracing'])}`);
    const failures = await preloadHttp({ port: node.ports.http, connections: 16, keys: settings.keys, valueBytes: settings.valueBytes });
    if (failures > 0) throw new Error(`${variant}: ${failures} PUTs failed while preloading`);
  }
  progress(`preloaded ${settings.keys} keys into both nodes`);

  const figures: Record<Variant, Record<string, number>> = { untraced: {}, traced: {} };
  const ratios: Record<string, number> = {};
  for (const [i, scenario] of (scenarios as HttpScenario[]).entries()) {
    const order: Variant[] = i % 2 === 0 ? ['untraced', 'traced'] : ['traced', 'untraced'];
    const results: Partial<Record<Variant, Record<string, number>>> = {};
    for (const variant of order) results[variant] = await phase(nodes[variant], variant, scenario, i + 1);
    for (const variant of order) {
      for (const [name, value] of Object.entries(results[variant]!)) figures[variant][`${scenario}_${name}`] = value;
    }
    ratios[scenario] = Math.round((results.traced!['ops_s']! / results.untraced!['ops_s']!) * 1000) / 1000;
  }

  const report = {
    bench: 'http',
    ...settings,
    warmup_s: settings.warmup,
    cpus: availableParallelism(),
    loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
    untraced: figures.untraced,
    traced: figures.traced,
    traced_ratio: ratios,
    span_exports: sink.exports(),
  };
  const bad = Object.entries(figures).flatMap(([variant, f]) =>
    Object.entries(f)
      .filter(([name, value]) => (name.endsWith('_errors') || name.endsWith('_misses')) && value > 0)
      .map(([name, value]) => `${variant} ${name} ${value}`),
  );
  if (bad.length > 0) {
    progress(`invalid run: ${bad.join('; ')}`);
    process.exitCode = 1;
  }
  progress('stopping the nodes');
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

runBench('http', main);
