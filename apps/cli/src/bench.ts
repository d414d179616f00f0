import { Progress, type ProgressSink } from '#operator';
import { type LoadOp, runLoad, summarize } from '../../../bench/lib/loadgen.js';

export interface BenchOptions {
  readonly host: string;
  readonly port: number;
  readonly op: LoadOp;
  readonly connections: number;
  readonly depth: number;
  readonly seconds: number;
  readonly keys: number;
  readonly valueBytes: number;
}

/**
 * `merklekv bench`: the benchmarks' closed-loop load generator (bench/lib/loadgen.ts) against a
 * running node, one operation for a fixed time; returns the JSON line the benchmarks print.
 */
export async function benchNode(options: BenchOptions, sink: ProgressSink): Promise<string> {
  const progress = new Progress(sink, { label: `bench ${options.op}`, unit: 's', total: options.seconds, rate: false });
  const started = performance.now();
  const ticker = setInterval(() => progress.update(Math.min(options.seconds, Math.floor((performance.now() - started) / 1000))), 250);
  try {
    const result = await runLoad({
      host: options.host,
      port: options.port,
      protocol: 'merklekv',
      op: options.op,
      connections: options.connections,
      depth: options.depth,
      keys: options.keys,
      valueBytes: options.valueBytes,
      durationMs: options.seconds * 1000,
      keyPrefix: 'bench:',
    });
    progress.update(options.seconds);
    progress.finish();
    return JSON.stringify({ bench: 'merklekv', target: `${options.host}:${options.port}`, op: options.op, connections: options.connections, depth: options.depth, keys: options.keys, value_bytes: options.valueBytes, ...summarize(result) });
  } finally {
    clearInterval(ticker);
  }
}
