import { createServer, type Server, type Socket } from 'node:net';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { AccessControl, ClientRegistry, type CommandPort, CommandStats } from '#commands';
import { type NodeConfig } from '#config';
import { Logger } from '#logging';
import { type SessionTimeouts } from '#protocol';
import { NODE_CONFIG } from '../../../shared/src/tokens.js';
import { ClientTls } from '../client-tls.js';
import { ProtocolCommands } from '../protocol-commands.js';
import { REQUEST_TIMEOUT_MS } from '../request-timeout.js';
import { MerkleKvConnection } from './connection.js';

/** How long clients get to read their last replies and close, at shutdown. */
const DRAIN_DEADLINE_MS = 2000;
/** How often connections are checked for idleness and overdue requests. */
const SWEEP_INTERVAL_MS = 1000;

/** The MerkleKV text protocol on TCP (default port 7379). */
@Injectable()
export class MerkleKvTcpServer implements BeforeApplicationShutdown {
  private readonly server: Server;
  private readonly connections = new Set<MerkleKvConnection>();
  private readonly logger: Logger;
  private readonly executor: CommandPort;
  private readonly timeouts: SessionTimeouts;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    @Inject(NODE_CONFIG) private readonly config: NodeConfig,
    commands: ProtocolCommands,
    private readonly clients: ClientRegistry,
    private readonly stats: CommandStats,
    private readonly access: AccessControl,
    logger: Logger,
  ) {
    this.executor = commands.for('merklekv');
    this.logger = logger.child({ component: 'merklekv-tcp' });
    // Nagle stays on (noDelay off): some clients read one reply per recv().
    const tls = ClientTls.of(config, logger);
    this.server = tls ? tls.createServer((socket) => this.accept(socket), { noDelay: false }) : createServer({ noDelay: false }, (socket) => this.accept(socket));
    this.server.on('error', (err) => this.logger.error('listener error', { error: err }));
    this.timeouts = { idleMs: config.clientIdleTimeoutSeconds * 1000, requestMs: REQUEST_TIMEOUT_MS };
  }

  /** Binds the port; resolves with the port actually bound (the configured one, or an ephemeral one for 0). */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: this.config.host, port: this.config.port, backlog: 1024 }, () => {
        this.server.off('error', reject);
        this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
        this.sweeper.unref();
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : this.config.port);
      });
    });
  }

  /** Stops accepting, lets every connection finish the replies it owes, then closes them. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweeper);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const drained = Promise.all([...this.connections].map((c) => c.drain()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, DRAIN_DEADLINE_MS);
    });
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    for (const connection of this.connections) connection.destroy();
    await closed;
  }

  private sweep(): void {
    for (const connection of this.connections) connection.closeIfOverdue(this.timeouts);
  }

  private accept(socket: Socket): void {
    const limit = this.config.maxConnections;
    if (limit > 0 && this.connections.size >= limit) {
      this.logger.warn('refused a client connection: max_connections reached', { limit });
      socket.end(`ERROR max connections reached (${limit})\r\n`);
      return;
    }
    const addr = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const client = this.clients.register(addr, 'merklekv');
    const connection = new MerkleKvConnection(socket, client, this.access.guard(this.executor), this.stats, this.logger);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
    this.logger.debug('client connected', { client: client.id, addr });
  }
}
