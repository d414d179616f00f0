/**
 * The spans MerkleKV makes, and the helpers that make them. Callers check `Tracing.enabled`
 * first: none of this runs when tracing is off.
 *
 * One write is one trace: the client command's span on the node that took it, the shard's
 * apply under it, the outbox publish (its context travels in the change's `traceparent` NATS
 * header), then each replica's consume and merge; in a split deployment the gateway's request to
 * the store-shard process and that process's serving of it sit between the command and the
 * apply (their context travels in the request's NATS headers).
 */
import { createHash } from 'node:crypto';
import {
  type Context,
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
  type Tracer,
} from '@opentelemetry/api';

export { SpanKind, type Span, type Context } from '@opentelemetry/api';

/** Span names. */
export const SPAN = {
  /** A client's command, on the node or gateway that took it: `<protocol> <COMMAND>` (e.g. `merklekv SET`). */
  command: (protocol: string, command: string): string => `${protocol} ${command}`,
  /** A local mutation through its shard's actor: queued, applied, committed (durable). */
  shardApply: 'shard.apply',
  /** A gateway's request to the store-shard process serving a shard (split deployments). */
  shardRequest: 'shard.request',
  /** A store-shard process answering a gateway's request. */
  shardServe: 'shard.serve',
  /** A change published from the outbox to JetStream, until JetStream stored it. */
  publish: 'replication.publish',
  /** Another node's change taken from the stream, until merged. */
  consume: 'replication.consume',
  /** That change merged into the local store, until durable. */
  merge: 'replication.merge',
  /** An anti-entropy session with one peer. */
  antiEntropySession: 'anti_entropy.session',
} as const;

/** Span attribute keys. Keys are never recorded, only {@link keyHash}; values never are. */
export const ATTR = {
  protocol: 'merklekv.protocol',
  command: 'merklekv.command',
  keyHash: 'merklekv.key.hash',
  keyCount: 'merklekv.key.count',
  shard: 'merklekv.shard',
  changeOrigin: 'merklekv.change.origin',
  changeSeq: 'merklekv.change.seq',
  peer: 'merklekv.peer',
  errorType: 'error.type',
  messagingSystem: 'messaging.system',
  messagingDestination: 'messaging.destination.name',
  messagingOperation: 'messaging.operation.type',
} as const;

/** A short, stable digest of a key (64 bits of SHA-256, hex): correlates spans of one key without recording it. */
export function keyHash(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex').slice(0, 16);
}

/**
 * Runs `fn` as the active span's child (or `parent`'s), with the new span active meanwhile, and
 * ends it once `fn`'s result settles. A promise is returned as it is, not wrapped, so callers
 * that tell synchronous results from promises see no difference. A throw or a rejection marks
 * the span failed, with the error's stable code as `error.type`.
 */
export function inSpan<T>(tracer: Tracer, name: string, options: SpanOptions, fn: (span: Span) => T, parent: Context = context.active()): T {
  const span = tracer.startSpan(name, options, parent);
  let result: T;
  try {
    result = context.with(trace.setSpan(parent, span), fn, undefined, span);
  } catch (err) {
    failSpan(span, err);
    span.end();
    throw err;
  }
  if (result instanceof Promise) {
    result.then(
      () => span.end(),
      (err: unknown) => {
        failSpan(span, err);
        span.end();
      },
    );
  } else {
    span.end();
  }
  return result;
}

/** Marks a span failed: status ERROR with the message, `error.type` the error's code or class. */
export function failSpan(span: Span, err: unknown): void {
  const code = (err as { code?: unknown } | null)?.code;
  span.setAttribute(ATTR.errorType, typeof code === 'string' ? code : err instanceof Error ? err.name : 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** What trace context travels in: NATS message headers (`MsgHdrs`) fit. */
export interface HeaderCarrier {
  get(key: string): string;
  set(key: string, value: string): void;
  keys(): string[];
}

const headerGetter: TextMapGetter<HeaderCarrier> = {
  keys: (carrier) => carrier.keys(),
  // NATS answers '' for a header that is absent.
  get: (carrier, key) => carrier.get(key) || undefined,
};

const headerSetter: TextMapSetter<HeaderCarrier> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** Writes the W3C trace context of `ctx` (default: the active one) into message headers. */
export function injectTraceContext(carrier: HeaderCarrier, ctx: Context = context.active()): void {
  propagation.inject(ctx, carrier, headerSetter);
}

/** The remote parent that message headers carry (the root context when they carry none). */
export function extractTraceContext(carrier: HeaderCarrier | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier, headerGetter) : ROOT_CONTEXT;
}

/** The W3C `traceparent` of `ctx` (default: the active one), or undefined outside any span. */
export function traceparentOf(ctx: Context = context.active()): string | undefined {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  return carrier['traceparent'];
}

/** The W3C `traceparent` naming `span` as the parent, for a span that is not (and need not be) the active one. */
export function traceparentOfSpan(span: Span): string {
  return traceparentOf(trace.setSpan(ROOT_CONTEXT, span))!;
}

/** The remote parent a `traceparent` names. */
export function contextOfTraceparent(traceparent: string): Context {
  return propagation.extract(ROOT_CONTEXT, { traceparent });
}

/** `trace_id` and `span_id` of the active span, for log lines; undefined outside any span. */
export function traceLogFields(): { trace_id: string; span_id: string } | undefined {
  const span = trace.getSpanContext(context.active());
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : undefined;
}
