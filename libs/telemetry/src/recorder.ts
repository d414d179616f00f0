import { ExportResultCode } from '@opentelemetry/core';
import { type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { type ProcessKind, Tracing } from './tracing.js';

export { type ReadableSpan } from '@opentelemetry/sdk-trace';

/**
 * Tracing into memory, for tests of instrumented code: start it, run the code with its
 * `tracing`, then `finish()` for every span that ended. It registers the global context
 * manager like a process does, so one recorder at a time.
 */
export class SpanRecorder {
  readonly #spans: ReadableSpan[] = [];
  readonly tracing: Tracing;

  private constructor(kind: ProcessKind) {
    const exporter: SpanExporter = {
      export: (spans, done) => {
        this.#spans.push(...spans);
        done({ code: ExportResultCode.SUCCESS });
      },
      shutdown: () => Promise.resolve(),
    };
    this.tracing = Tracing.start({ kind, version: 'test', env: {}, exporter });
    this.tracing.identify('recorder');
  }

  static start(kind: ProcessKind = 'node'): SpanRecorder {
    return new SpanRecorder(kind);
  }

  /** Stops tracing; resolves with every span ended meanwhile, in the order they ended. */
  async finish(): Promise<ReadableSpan[]> {
    await this.tracing.shutdown();
    return this.#spans;
  }
}
