import { readFileSync } from 'node:fs';
import { createServer, type SecureContextOptions, type Server, type TlsOptions, type TLSSocket } from 'node:tls';
import { type ListenerTls, type NodeConfig } from '#config';
import { type Logger } from '#logging';

/**
 * TLS for every client listener (MerkleKV text, HTTP, and any later one): one set of files, read
 * at start and again on SIGHUP. A reload swaps each listener's secure context, so connections
 * already open keep theirs and new ones get the new certificate; files that fail to load leave
 * the running context in place (and say so in the log).
 */
export class ClientTls {
  static readonly #instances = new WeakMap<ListenerTls, ClientTls>();
  readonly #servers = new Set<Server>();
  #context: SecureContextOptions;

  private constructor(
    private readonly files: ListenerTls,
    private readonly logger: Logger,
  ) {
    this.#context = readContext(files);
    process.on('SIGHUP', () => this.reload());
  }

  /** The node's one instance for its configuration, or undefined when TLS is not configured. */
  static of(config: NodeConfig, logger: Logger): ClientTls | undefined {
    if (config.tls === undefined) return undefined;
    let instance = ClientTls.#instances.get(config.tls);
    if (!instance) ClientTls.#instances.set(config.tls, (instance = new ClientTls(config.tls, logger.child({ component: 'client-tls' }))));
    return instance;
  }

  /** Options for a TLS server: TLS 1.2 or later; with a CA, a client certificate it signed is required. */
  get serverOptions(): TlsOptions {
    const mutual = this.files.caFile !== undefined;
    return { ...this.#context, minVersion: 'TLSv1.2', requestCert: mutual, rejectUnauthorized: mutual };
  }

  /** A TLS server whose certificates follow reloads; `accept` gets each connection once its handshake is done. */
  createServer(accept: (socket: TLSSocket) => void, options: { noDelay?: boolean } = {}): Server {
    const server = createServer({ ...this.serverOptions, ...options }, accept);
    this.track(server);
    return server;
  }

  /** Makes a TLS server built elsewhere (the HTTP listener's) follow reloads. */
  track(server: Server): void {
    this.#servers.add(server);
    server.on('tlsClientError', (err) => this.logger.debug('TLS handshake refused', { error: err.message }));
    server.once('close', () => this.#servers.delete(server));
  }

  /** Reads the files again and hands new connections the new context; on failure keeps the old one. */
  reload(): void {
    try {
      this.#context = readContext(this.files);
      for (const server of this.#servers) server.setSecureContext(this.serverOptions);
      this.logger.info('TLS certificates reloaded', { cert: this.files.certFile, listeners: this.#servers.size });
    } catch (err) {
      this.logger.error('TLS certificates not reloaded: the old ones stay in use', { error: err instanceof Error ? err.message : String(err) });
    }
  }
}

function readContext(files: ListenerTls): SecureContextOptions {
  const read = (key: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new Error(`${key}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  };
  return {
    cert: read('tls.cert_file', files.certFile),
    key: read('tls.key_file', files.keyFile),
    ...(files.caFile !== undefined && { ca: read('tls.ca_file', files.caFile) }),
  };
}
