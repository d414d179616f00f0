/**
 * bench:flood: one client pipelines GETs of large values without reading; what does everyone
 * else see, and what does it cost the node's memory?
 *
 * Starts a node (RocksDB engine, temp data dir), stores `--keys` values of `--value-bytes`, and
 * measures PING latency on a second connection (one PING at a time): on the idle node (the
 * reference); then for `--seconds` while a flooding connection has written `--flood-kib` KiB of
 * `GET` requests in one write and reads nothing; then while the flooder reads every reply it
 * asked for, as fast as it can (the node busy sending them). The node's RSS is sampled
 * throughout; the figure is its peak above the idle RSS. Prints one JSON line.
 *
 *   npm run bench:flood -- --value-bytes 1000000 --flood-kib 64 --seconds 5
 */
import { rmSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { Worker } from 'node:worker_threads';
import { startNode, TextClient, type NodeProcess } from '#testing';
import { killQuietly, onInterrupt, positive, runBench } from '../lib/cli.js';
import { benchCommandLine } from '../lib/flags.js';
import { LatencyHistogram } from '../lib/histogram.js';
import { processRssBytes } from '../lib/proc-status.js';

const GOAL = { ping_max_ms: 100, rss_above_idle_mb: 300 } as const;

const flags = benchCommandLine({
  bench: 'flood',
  flags: {
    'value-bytes': { hint: 'N', description: 'size of each stored value', default: '1000000' },
    keys: { hint: 'N', description: 'values stored, requested in turn by the flood', default: '4' },
    'flood-kib': { hint: 'N', description: 'KiB of GET requests the flooder writes at once', default: '64' },
    seconds: { hint: 'S', description: 'PINGs measured idle, and with the flood unread (each)', default: '5' },
    'ping-interval-ms': { hint: 'N', description: 'pause between one PONG and the next PING', default: '10' },
  },
  notes: ['Starts its own node (temp data dir, ephemeral ports). Prints progress on stderr, one JSON line on stdout.'],
});

const settings = {
  valueBytes: Math.floor(positive('value-bytes', flags['value-bytes'])),
  keys: Math.floor(positive('keys', flags.keys)),
  floodBytes: Math.floor(positive('flood-kib', flags['flood-kib']) * 1024),
  seconds: positive('seconds', flags.seconds),
  pingIntervalMs: positive('ping-interval-ms', flags['ping-interval-ms'], true),
};

const progress = (message: string): void => {
  process.stderr.write(`[bench:flood] ${message}\n`);
};

const MB = 1024 * 1024;
const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;
const ms = (micros: number): number => Math.round(micros) / 1000;
const key = (i: number): string => `flood:${i}`;

/** PINGs one at a time until `done` says stop; the RSS is sampled meanwhile. */
interface Phase {
  readonly latency: LatencyHistogram;
  readonly peakRss: number;
}

async function pings(probe: TextClient, node: NodeProcess, done: () => boolean): Promise<Phase> {
  const latency = new LatencyHistogram();
  let peakRss = processRssBytes(node.pid) ?? 0;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, processRssBytes(node.pid) ?? 0);
  }, 20);
  try {
    while (!done()) {
      const sent = performance.now();
      const reply = await probe.request('PING', 120_000);
      if (reply !== 'PONG') throw new Error(`PING answered ${JSON.stringify(reply)}`);
      latency.record((performance.now() - sent) * 1000);
      await new Promise((resolve) => setTimeout(resolve, settings.pingIntervalMs));
    }
  } finally {
    clearInterval(sampler);
  }
  return { latency, peakRss: Math.max(peakRss, processRssBytes(node.pid) ?? 0) };
}

function forSeconds(seconds: number): () => boolean {
  const end = performance.now() + seconds * 1000;
  return () => performance.now() >= end;
}

function summary(latency: LatencyHistogram): Record<string, number> {
  return { pings: latency.count, p50_ms: ms(latency.percentile(0.5)), p99_ms: ms(latency.percentile(0.99)), max_ms: ms(latency.max) };
}

/**
 * The flooding client, in a worker thread so that reading gigabytes does not delay the probe's
 * PONGs in this thread: connects, writes the requests in one write, reads nothing until told
 * to ('read'), then reads `expected` bytes and posts how long that took.
 */
const FLOODER = `
const { parentPort, workerData } = require('node:worker_threads');
const { createConnection } = require('node:net');
const { port, requests, expected } = workerData;
const socket = createConnection({ host: '127.0.0.1', port }, () => {
  socket.pause();
  socket.write(requests, () => parentPort.postMessage({ written: true }));
});
socket.on('error', (err) => parentPort.postMessage({ error: err.message }));
let received = 0;
let started = 0;
socket.on('data', (chunk) => {
  received += chunk.length;
  if (received >= expected) {
    parentPort.postMessage({ readMs: performance.now() - started });
    socket.destroy();
  }
});
socket.on('close', () => { if (received < expected) parentPort.postMessage({ error: 'closed after ' + received + ' of ' + expected + ' bytes' }); });
parentPort.on('message', () => { started = performance.now(); socket.resume(); });
`;

type FlooderMessage = { written?: true; readMs?: number; error?: string };

function nextMessage(worker: Worker): Promise<FlooderMessage> {
  return new Promise((resolve, reject) => {
    worker.once('message', (message: FlooderMessage) => (message.error === undefined ? resolve(message) : reject(new Error(`flooder: ${message.error}`))));
    worker.once('error', reject);
  });
}

async function main(): Promise<void> {
  progress(`settings ${JSON.stringify(settings)}`);
  const live: { node?: NodeProcess } = {};
  onInterrupt('flood', () => {
    if (live.node === undefined) return;
    killQuietly(live.node.pid);
    rmSync(live.node.dataDir, { recursive: true, force: true });
  });

  await using node = await startNode({ args: ['--engine', 'rocksdb'], readyTimeoutMs: 30_000 });
  live.node = node;
  progress(`node pid ${node.pid} on port ${node.ports.merklekv}`);

  await using probe = await TextClient.connect(node.ports.merklekv);
  for (let i = 0; i < settings.keys; i++) {
    const reply = await probe.request(`SET ${key(i)} ${'v'.repeat(settings.valueBytes)}`);
    if (reply !== 'OK') throw new Error(`SET answered ${JSON.stringify(reply.slice(0, 200))}`);
  }

  const idle = await pings(probe, node, forSeconds(settings.seconds));
  const idleRss = processRssBytes(node.pid) ?? 0;
  progress(`idle: RSS ${mb(idleRss)} MiB, PING ${JSON.stringify(summary(idle.latency))}`);

  const requests: string[] = [];
  for (let bytes = 0, i = 0; ; i++) {
    const line = `GET ${key(i % settings.keys)}\r\n`;
    if (bytes + line.length > settings.floodBytes) break;
    requests.push(line);
    bytes += line.length;
  }
  const expected = requests.length * (`VALUE \r\n`.length + settings.valueBytes);
  const flooder = new Worker(FLOODER, { eval: true, workerData: { port: node.ports.merklekv, requests: requests.join(''), expected } });
  try {
    await nextMessage(flooder);
    progress(`flooder wrote ${requests.length} GETs (${settings.floodBytes} bytes) and reads nothing`);
    const unread = await pings(probe, node, forSeconds(settings.seconds));
    progress(`flood, unread: peak RSS ${mb(unread.peakRss)} MiB, PING ${JSON.stringify(summary(unread.latency))}`);

    let readMs: number | undefined;
    const read = nextMessage(flooder).then((message) => (readMs = message.readMs));
    flooder.postMessage('read');
    const reading = await pings(probe, node, () => readMs !== undefined);
    await read;
    progress(`flood, read: the flooder read its ${requests.length} replies in ${Math.round(readMs!)} ms; peak RSS ${mb(reading.peakRss)} MiB, PING ${JSON.stringify(summary(reading.latency))}`);
    report(idleRss, idle.latency, unread, reading, requests.length, expected, readMs!);
  } finally {
    await flooder.terminate();
  }
}

function report(idleRss: number, idle: LatencyHistogram, unread: Phase, reading: Phase, requests: number, expected: number, readMs: number): void {
  const rssAboveIdle = mb(Math.max(0, unread.peakRss - idleRss, reading.peakRss - idleRss));
  const pingMax = ms(Math.max(unread.latency.max, reading.latency.max));
  process.stdout.write(
    `${JSON.stringify({
      bench: 'flood',
      value_bytes: settings.valueBytes,
      flood_bytes: settings.floodBytes,
      flood_requests: requests,
      seconds: settings.seconds,
      cpus: availableParallelism(),
      loadavg_1m: Math.round((loadavg()[0] ?? 0) * 100) / 100,
      idle_rss_mb: mb(idleRss),
      peak_rss_above_idle_mb: rssAboveIdle,
      ping_idle: summary(idle),
      ping_flood_unread: summary(unread.latency),
      ping_flood_reading: summary(reading.latency),
      flood_replies_mb: mb(expected),
      flood_read_s: Math.round(readMs) / 1000,
      goal: GOAL,
      goal_met: { ping: pingMax <= GOAL.ping_max_ms, rss: rssAboveIdle < GOAL.rss_above_idle_mb },
    })}\n`,
  );
}

runBench('flood', main);
