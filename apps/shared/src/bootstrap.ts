import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { ConfigError, helpRequested, loadConfig, type NodeConfig, protectedModeRefusal, usage } from '#config';
import { Logger } from '#logging';
import { StoreError } from '#store';
import { type ProcessKind, Telemetry, traceLogFields } from '#telemetry';
import { type NodeAddresses, NodeLifecycle } from './lifecycle.js';
import { NODE_VERSION } from './version.js';

/** Exit codes: 0 clean stop, 1 failure at run time, 2 invalid configuration. */
const EXIT_FAILURE = 1;
const EXIT_CONFIG = 2;
/** A stop that has not finished by then is cut short (flushing the store comes first). */
const SHUTDOWN_DEADLINE_MS = 4500;
/** What the last spans get to reach the collector, within that deadline. */
const TRACE_FLUSH_MS = 1000;

/** One of the runnable processes: the all-in-one node, a gateway, a store-shard process. */
export interface ServiceProcess<App extends { close(): Promise<void> }> {
  /** Which process this is: its service name in traces, its `process` in metrics. */
  readonly kind: ProcessKind;
  /** Refuses a configuration this process cannot run with: the message names the key. */
  check?(config: NodeConfig): ConfigError | undefined;
  /** Builds and initializes the application; nothing listens yet. */
  create(config: NodeConfig, logger: Logger, lifecycle: NodeLifecycle, telemetry: Telemetry): Promise<App>;
  /** The node id the application runs under (configured, generated, or read from the data directory). */
  nodeId(app: App): string;
  /** Opens the listeners; resolves with the addresses bound and extra fields for the `ready` log line. */
  listen(app: App, config: NodeConfig): Promise<{ addresses: NodeAddresses; details: Record<string, unknown> }>;
}

function readConfig(argv: readonly string[], service: Pick<ServiceProcess<never>, 'kind' | 'check'>): { config: NodeConfig; warnings: readonly string[] } | undefined {
  if (helpRequested(argv)) {
    process.stdout.write(usage());
    process.exit(0);
  }
  try {
    const loaded = loadConfig({ argv, env: process.env, cwd: process.cwd(), readFile: (path) => readFileSync(path, 'utf8') });
    // A store-shard process serves no clients (only probes and metrics): protected mode is the client listeners'.
    const refusal = service.check?.(loaded.config) ?? (service.kind === 'store-shard' ? undefined : protectedModeRefusal(loaded));
    if (refusal) throw refusal;
    return loaded;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exitCode = EXIT_CONFIG;
    return undefined;
  }
}

/**
 * Runs a process to its end: configuration (exit 2 when invalid), start, signals and the
 * SHUTDOWN command, and a stop bounded by {@link SHUTDOWN_DEADLINE_MS}. `argv` is the node's
 * flags (`merklekv start` passes what follows `start`).
 */
export async function runService<App extends { close(): Promise<void> }>(service: ServiceProcess<App>, argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const loaded = readConfig(argv, service);
  if (!loaded) return;
  const { config, warnings } = loaded;
  // The tracing SDK may warn before the logger exists (which needs to know whether tracing is on).
  const early: { warnings: string[]; logger?: Logger } = { warnings: [] };
  const telemetry = Telemetry.start({
    kind: service.kind,
    version: NODE_VERSION,
    warn: (message) => (early.logger ? early.logger.warn('tracing', { message }) : early.warnings.push(message)),
  });
  const logger = Logger.create({
    level: config.log.level,
    ...(config.log.file ? { file: config.log.file } : {}),
    // Off, the logger asks nothing per line.
    ...(telemetry.tracing.enabled ? { ambient: traceLogFields } : {}),
  });
  early.logger = logger;
  for (const warning of [...warnings, ...telemetry.tracing.warnings, ...early.warnings]) logger.warn(warning);

  const lifecycle = new NodeLifecycle();
  let app: App;
  try {
    app = await service.create(config, logger, lifecycle, telemetry);
    telemetry.identify(service.nodeId(app));
  } catch (err) {
    if (err instanceof StoreError && err.code === 'SHARD_COUNT') {
      // The data directory contradicts the configuration: a configuration error.
      process.stderr.write(`invalid config: shards: ${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    if (err instanceof StoreError && (err.code === 'OPEN' || err.code === 'FORMAT')) {
      // The environment (disk, permissions, another process) or the directory itself: one line
      // that says what to do (the log goes to stderr too unless it has a file of its own).
      if (config.log.file) logger.error('failed to start', { error: err.message });
      process.stderr.write(`${err.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    logger.error('failed to start', { error: err });
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
        await Promise.race([telemetry.shutdown(), new Promise((resolve) => setTimeout(resolve, TRACE_FLUSH_MS).unref())]);
        logger.info('stopped');
        process.exit(code);
      } catch (err) {
        logger.error('error while stopping', { error: err });
        process.exit(EXIT_FAILURE);
      }
    })();
    return stopping;
  };
  // Handled for good, not once: a signal repeated while stopping must not kill the stop halfway
  // (Ctrl-C under `npm start` delivers SIGINT twice: the terminal's, and npm's forwarded copy).
  // The deadline above bounds the stop.
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  lifecycle.onShutdownRequest(() => void stop('SHUTDOWN command'));

  try {
    const { addresses, details } = await service.listen(app, config);
    lifecycle.markReady(addresses);
    logger.info('ready', { ...details, tracing: telemetry.tracing.enabled });
  } catch (err) {
    logger.error('failed to start', { error: err });
    await stop('failed to start', EXIT_FAILURE);
  }
}
