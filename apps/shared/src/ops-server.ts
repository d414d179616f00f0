import { createServer, type Server } from 'node:http';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { Telemetry } from '#telemetry';
import { health, metrics, type ProbeReply, readiness } from './probes.js';
import { Readiness } from './readiness.js';

/**
 * The probes and `/metrics` of a process without the HTTP API (a store-shard process): a bare
 * HTTP listener, so that an orchestrator and Prometheus reach it like any other process.
 */
@Injectable()
export class OpsHttpServer implements OnApplicationShutdown {
  #server: Server | undefined;

  constructor(
    private readonly readiness: Readiness,
    private readonly telemetry: Telemetry,
  ) {}

  /** Binds `host:port` (0: an ephemeral port); resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    const server = createServer((request, response) => {
      void this.answer(request.method, (request.url ?? '').split('?')[0]!).then((reply) => {
        response.writeHead(reply.status, { 'content-type': reply.contentType });
        response.end(reply.body);
      });
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => {
        server.off('error', reject);
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  private async answer(method: string | undefined, path: string): Promise<ProbeReply> {
    if (method !== 'GET' && method !== 'HEAD') return refusal(405, 'METHOD_NOT_ALLOWED', `${String(method)} is not served here`);
    switch (path) {
      case '/healthz':
        return health();
      case '/readyz':
        return readiness(this.readiness);
      case '/metrics':
        return metrics(this.telemetry.metrics);
      default:
        return refusal(404, 'NOT_FOUND', `${path} is not served by a store-shard process: /healthz, /readyz, /metrics`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function refusal(status: number, code: string, message: string): ProbeReply {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify({ error: { code, message } }) };
}
