import { createServer, type Server, type Socket } from 'node:net';
import { type AccessControl, type ClientRegistry, type CommandPort, type CommandStats, type Protocol } from '#commands';
import { type NodeConfig } from '#config';
import { type Logger } from '#logging';
import { type SessionProtocol, type SessionTimeouts } from '#protocol';
import { ClientTls } from '../client-tls.js';
import { REQUEST_TIMEOUT_MS } from '../request-timeout.js';
import { SessionConnection } from './session-connection.js';

/** How long clients get to read their last replies and close, at shutdown. */
const DRAIN_DEADLINE_MS = 2000;
/** How often connections are checked for idleness and overdue requests. */
const SWEEP_INTERVAL_MS = 1000;

export interface SessionListenerOptions<X> {
  readonly protocolName: Protocol;
  readonly protocol: SessionProtocol<X>;
  readonly port: number;
  /**
   * What every client listener shares: the host, the idle timeout, TLS (when configured the
   * listener speaks only TLS) and `max_connections` (beyond it a new connection is refused in
   * the protocol's words and closed).
   */
  readonly config: NodeConfig;
  readonly executor: CommandPort;
  /** Signs each connection in and checks its commands (lets everything through without users). */
  readonly access: AccessControl;
  readonly clients: ClientRegistry;
  readonly stats: CommandStats;
  readonly logger: Logger;
}

/**
 * A TCP listener whose connections each run a protocol session: accepts, sweeps idle and
 * overdue connections, and at shutdown lets each connection send the replies it owes.
 */
export class SessionListener<X> {
  private readonly server: Server;
  private readonly connections = new Set<SessionConnection<X>>();
  private readonly timeouts: SessionTimeouts;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(private readonly options: SessionListenerOptions<X>) {
    // Nagle stays on (noDelay off): some clients read one reply per recv().
    const accept = (socket: Socket): void => this.accept(socket);
    const tls = ClientTls.of(options.config, options.logger);
    this.server = tls ? tls.createServer(accept, { noDelay: false }) : createServer({ noDelay: false }, accept);
    this.server.on('error', (err) => options.logger.error('listener error', { error: err }));
    this.timeouts = { idleMs: options.config.clientIdleTimeoutSeconds * 1000, requestMs: REQUEST_TIMEOUT_MS };
  }

  /** Binds the port; resolves with the port actually bound (the configured one, or an ephemeral one for 0). */
  listen(): Promise<number> {
    const { config, port } = this.options;
    const host = config.host;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port, backlog: 1024 }, () => {
        this.server.off('error', reject);
        this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
        this.sweeper.unref();
        const address = this.server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Stops accepting, lets every connection finish the replies it owes, then closes them. */
  async close(): Promise<void> {
    clearInterval(this.sweeper);
    if (!this.server.listening) return;
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
    const { clients, executor, access, stats, protocol, protocolName, logger } = this.options;
    const maxConnections = this.options.config.maxConnections;
    if (maxConnections > 0 && this.connections.size >= maxConnections) {
      logger.warn('refused a client connection: max_connections reached', { limit: maxConnections });
      socket.end(protocol.encodeError(`max connections reached (${maxConnections})`, 'OVERLOADED'));
      return;
    }
    const addr = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? 0}`;
    const client = clients.register(addr, protocolName);
    // The guard limits failed sign-ins per address, not per connection: reconnecting does not reset it.
    const guarded = access.guard(executor, undefined, socket.remoteAddress);
    const connection = new SessionConnection(socket, client, guarded, stats, protocol, logger);
    this.connections.add(connection);
    socket.once('close', () => this.connections.delete(connection));
    logger.debug('client connected', { client: client.id, addr });
  }
}
