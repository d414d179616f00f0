import { type DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { type NodeAddresses } from '../../shared/src/lifecycle.js';
import { NestJsonLogger } from '../../shared/src/nest-logger.js';
import { boundPipelinedRequests } from './http/pipeline-gate.js';
import { MerkleKvTcpServer } from './merklekv/tcp-server.js';

/** A Nest application on Fastify that fronts {@link GatewayModule}: HTTP bodies stay raw bytes. */
export async function createFrontEnd(module: DynamicModule, config: NodeConfig, logger: Logger): Promise<NestFastifyApplication> {
  const app = await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter({ bodyLimit: config.maxValueBytes + 4096 }), {
    logger: new NestJsonLogger(logger),
    bodyParser: false,
    abortOnError: false,
  });
  // Values are raw bytes whatever the content type; JSON bodies are parsed where they are expected.
  const fastify = app.getHttpAdapter().getInstance();
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
  boundPipelinedRequests(fastify);
  await app.init();
  return app;
}

/** Binds the MerkleKV port and, unless disabled, the HTTP port. */
export async function listenFrontEnd(app: NestFastifyApplication, config: NodeConfig): Promise<{ addresses: NodeAddresses; ports: { merklekv: number; http: number | undefined } }> {
  const merklekv = await app.get(MerkleKvTcpServer).listen();
  let http: number | undefined;
  if (config.httpPort !== null) {
    await app.listen({ port: config.httpPort, host: config.host });
    const address = app.getHttpServer().address();
    http = typeof address === 'object' && address ? address.port : config.httpPort;
  }
  return {
    addresses: { merklekv: `${config.host}:${merklekv}`, http: http === undefined ? '' : `${config.host}:${http}` },
    ports: { merklekv, http },
  };
}
