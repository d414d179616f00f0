import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { eventually } from '#testing';

/** One span as a collector received it, flattened with its resource's service and node. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** Empty for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  readonly service: string;
  readonly nodeId: string;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: number | string;
  readonly doubleValue?: number;
  readonly boolValue?: boolean;
}

interface OtlpKeyValue {
  readonly key: string;
  readonly value: OtlpValue;
}

interface ExportTraceServiceRequest {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly OtlpKeyValue[] };
    readonly scopeSpans?: readonly {
      readonly spans?: readonly { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: readonly OtlpKeyValue[] }[];
    }[];
  }[];
}

function attributesOf(list: readonly OtlpKeyValue[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    const v = value.stringValue ?? value.boolValue ?? value.doubleValue ?? (value.intValue === undefined ? undefined : Number(value.intValue));
    if (v !== undefined) out[key] = v;
  }
  return out;
}

/**
 * An OpenTelemetry collector for tests: an HTTP server on an ephemeral port that takes OTLP/HTTP
 * JSON exports (`POST /v1/traces`) and keeps every span. Give processes
 * `OTEL_EXPORTER_OTLP_ENDPOINT=<endpoint>`.
 */
export class OtlpReceiver implements AsyncDisposable {
  readonly #spans: ReceivedSpan[] = [];
  /** Export requests that were not OTLP JSON: a test fails on them rather than missing spans silently. */
  readonly refused: string[] = [];

  private constructor(private readonly server: Server) {
    server.on('request', (request: IncomingMessage, response: ServerResponse) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        this.receive(request.method, request.url, request.headers['content-type'], request.headers['content-encoding'], Buffer.concat(chunks));
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{}');
      });
    });
  }

  static async start(): Promise<OtlpReceiver> {
    const receiver = new OtlpReceiver(createServer());
    await new Promise<void>((resolve) => receiver.server.listen({ host: '127.0.0.1', port: 0 }, resolve));
    return receiver;
  }

  /** What to give processes as `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  get endpoint(): string {
    const address = this.server.address();
    return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  }

  get spans(): readonly ReceivedSpan[] {
    return this.#spans;
  }

  /** Every span of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.#spans.filter((s) => s.traceId === traceId);
  }

  /** Waits for a span `match` accepts and returns it. */
  async waitForSpan(what: string, match: (span: ReceivedSpan) => boolean, timeoutMs?: number): Promise<ReceivedSpan> {
    let found: ReceivedSpan | undefined;
    await eventually(what, () => (found = this.#spans.find(match)) !== undefined, timeoutMs);
    return found!;
  }

  private receive(method: string | undefined, url: string | undefined, type: string | undefined, encoding: string | undefined, body: Buffer): void {
    if (method !== 'POST' || url !== '/v1/traces' || !type?.startsWith('application/json')) {
      this.refused.push(`${String(method)} ${String(url)} ${String(type)}`);
      return;
    }
    const request = JSON.parse((encoding === 'gzip' ? gunzipSync(body) : body).toString('utf8')) as ExportTraceServiceRequest;
    for (const { resource, scopeSpans } of request.resourceSpans ?? []) {
      const res = attributesOf(resource?.attributes);
      for (const { spans } of scopeSpans ?? []) {
        for (const span of spans ?? []) {
          this.#spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? '',
            name: span.name,
            service: String(res['service.name']),
            nodeId: String(res['merklekv.node.id']),
            attributes: attributesOf(span.attributes),
          });
        }
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
