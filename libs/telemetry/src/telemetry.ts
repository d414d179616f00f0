import { antiEntropyTelemetry, type AntiEntropyTelemetry } from './anti-entropy.js';
import { PrometheusMetrics } from './prometheus.js';
import { type StartTracingOptions, Tracing } from './tracing.js';

export interface StartTelemetryOptions extends StartTracingOptions {
  /** Node's default metrics and the event-loop lag gauges (default true). */
  readonly defaultMetrics?: boolean;
}

/** One process's telemetry: its metrics (what `/metrics` serves) and its tracing. */
export class Telemetry {
  readonly antiEntropy: AntiEntropyTelemetry;
  #nodeId = '';

  private constructor(
    readonly metrics: PrometheusMetrics,
    readonly tracing: Tracing,
    options: StartTelemetryOptions,
  ) {
    metrics.gauge({
      name: 'info',
      help: 'This process: node id, process kind, version, whether spans are exported (always 1).',
      labels: ['node_id', 'process', 'version', 'tracing'],
      collect: (report) => report(1, { node_id: this.#nodeId, process: options.kind, version: options.version, tracing: String(tracing.enabled) }),
    });
    this.antiEntropy = antiEntropyTelemetry(metrics, tracing);
  }

  static start(options: StartTelemetryOptions): Telemetry {
    return new Telemetry(new PrometheusMetrics({ defaults: options.defaultMetrics ?? true }), Tracing.start(options), options);
  }

  /** The node id, once known (a node may read it from its data directory). */
  identify(nodeId: string): void {
    this.#nodeId = nodeId;
    this.tracing.identify(nodeId);
  }

  /** Exports the spans still buffered; stops the event-loop monitor. */
  async shutdown(): Promise<void> {
    this.metrics.close();
    await this.tracing.shutdown();
  }
}
