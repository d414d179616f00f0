import { type PrometheusMetrics } from '#telemetry';
import { type Readiness } from './readiness.js';

/** What a probe answers, whatever serves it (the Fastify front end, or a store-shard process's own listener). */
export interface ProbeReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** `GET /healthz`: the process is up and its event loop answers. */
export function health(): ProbeReply {
  return { status: 200, contentType: JSON_TYPE, body: JSON.stringify({ status: 'ok' }) };
}

/** `GET /readyz`: 200 when ready, else 503 naming what is missing. */
export function readiness(readiness: Readiness): ProbeReply {
  const { ready, status, problems } = readiness.report();
  return { status: ready ? 200 : 503, contentType: JSON_TYPE, body: JSON.stringify(ready ? { status } : { status, problems }) };
}

/** `GET /metrics`: the Prometheus text exposition. */
export async function metrics(metrics: PrometheusMetrics): Promise<ProbeReply> {
  return { status: 200, contentType: metrics.contentType, body: await metrics.exposition() };
}
