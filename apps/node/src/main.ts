import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ConfigError, helpRequested, loadConfig, type NodeConfig, usage } from '#config';
import { Logger } from '#logging';
import { Store, StoreError } from '#store';
import { MerkleKvTcpServer } from '../../gateway/src/merklekv/tcp-server.js';
import { NodeLifecycle } from '../../shared/src/lifecycle.js';
import { NestJsonLogger } from '../../shared/src/nest-logger.js';
import { NodeModule } from './node.module.js';

/** Exit codes: 0 clean stop, 1 failure at run time, 2 invalid configuration. */
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;
/** A stop that has not finished by then is cut short (flushing the store comes first). */
const SHUTDOWN_DEADLINE_MS = 4500;

function readConfig(): { config: NodeConfig; warnings: readonly string[] } | undefined {
  const argv = process.argv.slice(2);
  if (helpRequested(argv)) {
    process.stdout.write(usage());
    process.exit(0);
  }
  try {
    return loadConfig({
      argv,
      env: process.env,
      cwd: process.cwd(),
      readFile: (path) => readFileSync(path, 'utf8'),
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return undefined;
  }
}

async function main(): Promise<void> {
  const loaded = readConfig();
  if (!loaded) return;
  const { config, warnings } = loaded;
  const logger = Logger.create({ level: config.log.level, ...(config.log.file ? { file: config.log.file } : {}) });
  for (const warning of warnings) logger.warn(warning);

  const lifecycle = new NodeLifecycle();
  let app: NestFastifyApplication;
  try {
    app = await NestFactory.create<NestFastifyApplication>(
      NodeModule.forRoot(config, logger, lifecycle),
      new FastifyAdapter({ bodyLimit: config.maxValueBytes + 4096 }),
      { logger: new NestJsonLogger(logger), bodyParser: false, abortOnError: false },
    );
    // Values are raw bytes whatever the content type; JSON bodies are parsed where they are expected.
    const fastify = app.getHttpAdapter().getInstance();
    fastify.removeAllContentTypeParsers();
    fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));
    await app.init();
  } catch (err) {
    if (err instanceof StoreError && err.code === 'SHARD_COUNT') {
      // The data directory contradicts the configuration: a configuration error.
      process.stderr.write(`invalid config: shards: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    logger.error('node failed to start', { error: err });
    process.exit(EXIT_FAILURE);
  }

  let stopping: Promise<void> | undefined;
  /** Stops every module (listeners first, the store last) and exits with `code`. */
  const stop = (reason: string, code = 0): Promise<void> => {
    stopping ??= (async () => {
      lifecycle.markStopping();
      logger.info('stopping', { reason });
      setTimeout(() => {
        logger.error('graceful stop took too long; exiting', { deadlineMs: SHUTDOWN_DEADLINE_MS });
        process.exit(EXIT_FAILURE);
      }, SHUTDOWN_DEADLINE_MS);
      try {
        await app.close();
        logger.info('stopped');
        process.exit(code);
      } catch (err) {
        logger.error('error while stopping', { error: err });
        process.exit(EXIT_FAILURE);
      }
    })();
    return stopping;
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  lifecycle.onShutdownRequest(() => void stop('SHUTDOWN command'));

  try {
    const merklekv = await app.get(MerkleKvTcpServer).listen();
    let http: number | undefined;
    if (config.httpPort !== null) {
      await app.listen({ port: config.httpPort, host: config.host });
      const address = app.getHttpServer().address();
      http = typeof address === 'object' && address ? address.port : config.httpPort;
    }
    lifecycle.markReady({ merklekv: `${config.host}:${merklekv}`, http: http === undefined ? '' : `${config.host}:${http}` });
    logger.info('ready', { ports: { merklekv, http }, host: config.host, nodeId: app.get(Store).nodeId });
  } catch (err) {
    logger.error('node failed to start', { error: err });
    await stop('failed to start', EXIT_FAILURE);
  }
}

void main();
