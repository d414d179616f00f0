/**
 * Tracing set up from the standard `OTEL_*` environment.
 *
 * Off unless an exporter endpoint is configured (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
 * `OTEL_EXPORTER_OTLP_ENDPOINT`), and then OTLP over HTTP with JSON bodies. Off, nothing is
 * registered: the API stays a no-op, and instrumented code checks {@link Tracing.enabled} (one
 * boolean) before building a span or its attributes, so a process without a collector pays
 * nothing per request.
 *
 * On, it registers the W3C trace-context propagator, an AsyncLocalStorage context manager and
 * a tracer provider whose resource names the service (`merklekv-<process kind>` unless
 * `OTEL_SERVICE_NAME`) and the node. A node may learn its id only once its data directory is
 * open, so the id is a resource attribute that settles later ({@link Tracing.identify});
 * the batch processor holds exports until it has.
 */
import { context, diag, DiagLogLevel, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { envDetector, detectResources, resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  type BatchSpanProcessorOptions,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** The runnable processes, each its own service in traces. */
export type ProcessKind = 'node' | 'gateway' | 'store-shard';

export type Env = Readonly<Record<string, string | undefined>>;

/** The name every instrumented span is created under. */
export const TRACER_NAME = 'merklekv';

type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
const SAMPLERS: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

/** What the environment asks for, with what could not be honoured as warnings. */
export interface TracingSettings {
  readonly enabled: boolean;
  readonly serviceName: string;
  readonly sampler: SamplerName;
  /** For the ratio samplers, 0..1. */
  readonly ratio: number;
  readonly batch: Omit<BatchSpanProcessorOptions, 'exporter'>;
  readonly warnings: readonly string[];
}

/** Reads the `OTEL_*` variables this process honours; pure, so the rules are testable. */
export function tracingSettings(env: Env, kind: ProcessKind): TracingSettings {
  const warnings: string[] = [];
  const text = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  const endpoint = text('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? text('OTEL_EXPORTER_OTLP_ENDPOINT');
  const exporter = text('OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    warnings.push(`OTEL_TRACES_EXPORTER=${exporter} is not supported: only otlp (over HTTP) or none`);
  }
  const protocol = text('OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ?? text('OTEL_EXPORTER_OTLP_PROTOCOL');
  if (endpoint !== undefined && protocol !== undefined && protocol !== 'http/json') {
    warnings.push(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported: spans are exported as OTLP/HTTP JSON`);
  }
  const enabled = endpoint !== undefined && exporter !== 'none' && text('OTEL_SDK_DISABLED')?.toLowerCase() !== 'true';

  let sampler: SamplerName = 'parentbased_always_on';
  const asked = text('OTEL_TRACES_SAMPLER')?.toLowerCase();
  if (asked !== undefined) {
    if ((SAMPLERS as readonly string[]).includes(asked)) sampler = asked as SamplerName;
    else warnings.push(`OTEL_TRACES_SAMPLER=${asked} is not supported; using parentbased_always_on`);
  }
  let ratio = 1;
  const arg = text('OTEL_TRACES_SAMPLER_ARG');
  if (arg !== undefined && sampler.endsWith('traceidratio')) {
    const n = Number(arg);
    if (Number.isFinite(n) && n >= 0 && n <= 1) ratio = n;
    else warnings.push(`OTEL_TRACES_SAMPLER_ARG=${arg} is not a ratio from 0 to 1; using 1`);
  }

  const batch: Record<string, number> = {};
  const positive = (name: string, option: keyof Omit<BatchSpanProcessorOptions, 'exporter'>): void => {
    const value = text(name);
    if (value === undefined) return;
    const n = Number(value);
    if (Number.isInteger(n) && n > 0) batch[option] = n;
    else warnings.push(`${name}=${value} is not a positive integer; using the default`);
  };
  positive('OTEL_BSP_SCHEDULE_DELAY', 'scheduledDelayMillis');
  positive('OTEL_BSP_EXPORT_TIMEOUT', 'exportTimeoutMillis');
  positive('OTEL_BSP_MAX_QUEUE_SIZE', 'maxQueueSize');
  positive('OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 'maxExportBatchSize');

  return { enabled, serviceName: text('OTEL_SERVICE_NAME') ?? `merklekv-${kind}`, sampler, ratio, batch, warnings };
}

function samplerOf(settings: TracingSettings): Sampler {
  const root = (name: string): Sampler =>
    name.endsWith('always_on') ? new AlwaysOnSampler() : name.endsWith('always_off') ? new AlwaysOffSampler() : new TraceIdRatioBasedSampler(settings.ratio);
  return settings.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root: root(settings.sampler) }) : root(settings.sampler);
}

export interface StartTracingOptions {
  readonly kind: ProcessKind;
  /** The software version (`service.version`). */
  readonly version: string;
  readonly env?: Env;
  /** Where spans go instead of the OTLP exporter (tests). */
  readonly exporter?: SpanExporter;
  /** Told about the SDK's own warnings and errors (a collector that does not answer...). */
  readonly warn?: (message: string) => void;
}

/** This process's tracing: a tracer, and whether spans go anywhere at all. */
export class Tracing {
  /** Tracing off: the API's no-op tracer. */
  static readonly disabled = new Tracing(false, trace.getTracer(TRACER_NAME), undefined, () => undefined, []);

  private constructor(
    /** Spans are recorded and exported. Instrumented code checks this before building anything. */
    readonly enabled: boolean,
    readonly tracer: Tracer,
    private readonly provider: TracerProvider | undefined,
    private readonly settle: (nodeId: string) => void,
    /** What the environment asked for that could not be honoured. */
    readonly warnings: readonly string[],
  ) {}

  static start(options: StartTracingOptions): Tracing {
    const settings = tracingSettings(options.env ?? process.env, options.kind);
    if (!settings.enabled && options.exporter === undefined) return new Tracing(false, Tracing.disabled.tracer, undefined, () => undefined, settings.warnings);

    let settle!: (nodeId: string) => void;
    const nodeId = new Promise<string>((resolve) => (settle = resolve));
    const resource = resourceFromAttributes({
      'service.name': settings.serviceName,
      'service.version': options.version,
      'service.instance.id': nodeId,
      'merklekv.node.id': nodeId,
      'merklekv.process': options.kind,
    }).merge(detectResources({ detectors: [envDetector] }));
    const provider = new TracerProvider({
      resource,
      sampler: samplerOf(settings),
      spanProcessors: [new BatchSpanProcessor({ ...settings.batch, exporter: options.exporter ?? new OTLPTraceExporter() })],
    });
    if (options.warn) {
      const warn = options.warn;
      diag.setLogger(
        { error: (m) => warn(m), warn: (m) => warn(m), info: () => undefined, debug: () => undefined, verbose: () => undefined },
        DiagLogLevel.WARN,
      );
    }
    context.setGlobalContextManager(new AsyncLocalStorageContextManager());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    return new Tracing(true, provider.getTracer(TRACER_NAME, options.version), provider, settle, settings.warnings);
  }

  /** Names the node in every span's resource; exports wait for it. */
  identify(nodeId: string): void {
    this.settle(nodeId);
  }

  /** Exports what is buffered and unregisters the globals. */
  async shutdown(): Promise<void> {
    if (!this.provider) return;
    // A process stopped before it learnt its id must not hold its last spans back for ever.
    this.settle('unknown');
    await this.provider.shutdown();
    trace.disable();
    propagation.disable();
    context.disable();
    diag.disable();
  }
}
