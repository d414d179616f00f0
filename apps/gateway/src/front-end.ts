import { type Server } from 'node:http';
import { type Socket } from 'node:net';
import { type Server as TlsServer } from 'node:tls';
import { type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { AccessControl } from '#commands';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { MERKLEKV_MAX_LINE_BYTES } from '#protocol';
import { type NodeAddresses } from '../../shared/src/lifecycle.js';
import { NestJsonLogger } from '../../shared/src/nest-logger.js';
import { ClientTls } from './client-tls.js';
import { codeOfStatus, errorBody, refuseClientError } from './http/error-body.js';
import { installHttpAuthentication } from './http/http-access.js';
import { boundPipelinedRequests } from './http/pipeline-gate.js';
import { MemcachedTcpServer } from './memcached/tcp-server.js';
import { MerkleKvTcpServer } from './merklekv/tcp-server.js';
import { REQUEST_TIMEOUT_MS } from './request-timeout.js';

/**
 * The longest key over HTTP, in characters once decoded: any key a text-protocol line can carry
 * (a UTF-8 key of n bytes is at most n UTF-16 characters).
 */
const MAX_KEY_CHARS = MERKLEKV_MAX_LINE_BYTES;
/** The request line and headers: a key of that length percent-encoded (3 bytes per byte at worst), and room for headers. */
const MAX_HEADER_BYTES = 3 * MAX_KEY_CHARS + 64 * 1024;

/**
 * Fastify's own refusals (before any route runs) in the documented error body: a path that is not
 * percent-encoded UTF-8, a key over the limit, and what Node's HTTP parser refuses.
 */
const FRAMEWORK_ERRORS = {
  frameworkErrors: (error: FastifyError, _request: FastifyRequest, reply: FastifyReply) => {
    const status = error.statusCode ?? 500;
    const message =
      error.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? `key too long (limit ${MAX_KEY_CHARS} characters)`
        : error.code === 'FST_ERR_BAD_URL'
          ? 'the URL is not valid percent-encoded UTF-8'
          : error.message;
    void reply.status(status).header('content-type', 'application/json').send(errorBody(codeOfStatus(status), message));
  },
  clientErrorHandler: (error: Error & { code?: string }, socket: Socket) => {
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    if (error.code === 'HPE_HEADER_OVERFLOW') refuseClientError(socket, 431, `request line and headers over ${MAX_HEADER_BYTES} bytes`);
    else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuseClientError(socket, 408, 'request not received in time');
    else refuseClientError(socket, 400, 'malformed HTTP request');
  },
};

/** A Nest application on Fastify that fronts {@link GatewayModule}: HTTP bodies stay raw bytes. */
export async function createFrontEnd(module: DynamicModule, config: NodeConfig, logger: Logger): Promise<NestFastifyApplication> {
  const tls = ClientTls.of(config, logger);
  const adapter = new FastifyAdapter({
    ...(tls && { https: tls.serverOptions }),
    bodyLimit: config.maxValueBytes + 4096,
    routerOptions: { maxParamLength: MAX_KEY_CHARS },
    // A keep-alive connection idle between requests closes like an idle MerkleKV one (0: never);
    // a request begun must complete in time, however its bytes trickle in.
    keepAliveTimeout: config.clientIdleTimeoutSeconds * 1000,
    // Also a connection that never sends a request (an event stream turns it off for its socket).
    connectionTimeout: config.clientIdleTimeoutSeconds * 1000,
    requestTimeout: REQUEST_TIMEOUT_MS,
    http: { maxHeaderSize: MAX_HEADER_BYTES, headersTimeout: REQUEST_TIMEOUT_MS },
    ...FRAMEWORK_ERRORS,
  });
  const app = await NestFactory.create<NestFastifyApplication>(module, adapter, {
    logger: new NestJsonLogger(logger),
    bodyParser: false,
    abortOnError: false,
  });
  // Values are raw bytes whatever the content type; JSON bodies are parsed where they are expected.
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  boundPipelinedRequests(fastify);
  installHttpAuthentication(fastify, app.get(AccessControl));
  // With `https` set, Fastify's server is an https.Server (its type parameter does not say so).
  if (tls) tls.track(fastify.server as unknown as TlsServer);
  limitConnections(fastify.server, config.maxConnections, tls !== undefined);
  await app.init();
  return app;
}

/**
 * Beyond `limit` open connections, a new one gets a 503 in the documented body and is closed
 * (Node's own `maxConnections` would drop it without a word). Counted once TLS is up, so that the
 * refusal can be read.
 */
function limitConnections(server: Server, limit: number, secure: boolean): void {
  if (limit === 0) return;
  let open = 0;
  server.on(secure ? 'secureConnection' : 'connection', (socket: Socket) => {
    if (open >= limit) {
      refuseClientError(socket, 503, `max connections reached (${limit})`, 'OVERLOADED');
      return;
    }
    open++;
    socket.once('close', () => open--);
  });
}

/** Binds the MerkleKV port and, unless disabled, the memcached and HTTP ports. */
export async function listenFrontEnd(
  app: NestFastifyApplication,
  config: NodeConfig,
): Promise<{ addresses: NodeAddresses; ports: { merklekv: number; http: number | undefined; memcached: number | undefined } }> {
  const merklekv = await app.get(MerkleKvTcpServer).listen();
  const memcached = await app.get(MemcachedTcpServer).listen();
  let http: number | undefined;
  if (config.httpPort !== null) {
    await app.listen({ port: config.httpPort, host: config.host });
    const address = app.getHttpServer().address();
    http = typeof address === 'object' && address ? address.port : config.httpPort;
  }
  return {
    addresses: { merklekv: `${config.host}:${merklekv}`, http: http === undefined ? '' : `${config.host}:${http}` },
    ports: { merklekv, http, memcached },
  };
}
