import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { AccessControl, ClientRegistry, type CommandPort, CommandStats, GuardedPort } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { MemcachedCounters, memcachedSessionProtocol, type MemcachedRequest } from '#protocol';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';
import { NODE_VERSION } from '../../../shared/src/version.js';
import { ProtocolCommands } from '../protocol-commands.js';
import { SessionListener } from '../tcp/session-listener.js';

/**
 * memcached's text, meta and binary protocols on TCP (`memcached_port`, default 11211; none when
 * it is off). Requests run on the same command port as the other protocols, each connection
 * through its own guard: with users configured, clients sign in as memcached's do (see the
 * protocol's auth.ts) and each command is checked like any other protocol's.
 */
@Injectable()
export class MemcachedTcpServer implements BeforeApplicationShutdown {
  private readonly listener: SessionListener<MemcachedRequest> | undefined;
  private readonly logger: Logger;
  /** The pending `flush_all <delay>`, if any: a later flush replaces it, as in memcached. */
  private delayedFlush: NodeJS.Timeout | undefined;

  constructor(
    @Inject(NODE_CONFIG) config: NodeConfig,
    commands: ProtocolCommands,
    clients: ClientRegistry,
    stats: CommandStats,
    access: AccessControl,
    logger: Logger,
  ) {
    this.logger = logger.child({ component: 'memcached-tcp' });
    if (config.memcachedPort === null) return;
    const protocol = memcachedSessionProtocol({
      maxValueBytes: config.maxValueBytes,
      counters: new MemcachedCounters(),
      version: NODE_VERSION,
      pid: process.pid,
      signInRequired: access.enabled,
      scheduleFlush: (delaySeconds, port) => this.scheduleFlush(delaySeconds, port),
    });
    this.listener = new SessionListener({
      protocolName: 'memcached',
      protocol,
      port: config.memcachedPort,
      config,
      executor: commands.for('memcached'),
      access,
      clients,
      stats,
      logger: this.logger,
    });
  }

  /** Binds the port, unless memcached is off; resolves with the port bound. */
  async listen(): Promise<number | undefined> {
    return this.listener?.listen();
  }

  beforeApplicationShutdown(): Promise<void> {
    clearTimeout(this.delayedFlush);
    return this.listener?.close() ?? Promise.resolve();
  }

  /** Checked now for the connection's user (and again when it runs, as that user). */
  private scheduleFlush(delaySeconds: number, port: CommandPort): void {
    if (port instanceof GuardedPort) port.authorize({ name: 'TRUNCATE' });
    clearTimeout(this.delayedFlush);
    this.delayedFlush = setTimeout(() => {
      this.delayedFlush = undefined;
      Promise.resolve()
        .then(() => port.execute({ name: 'TRUNCATE' }))
        .catch((err: unknown) => this.logger.error('delayed flush_all failed', { error: err }));
    }, delaySeconds * 1000);
    this.delayedFlush.unref();
  }
}
