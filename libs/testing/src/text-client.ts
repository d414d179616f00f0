import { createConnection, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { HarnessError } from './errors.js';

export interface TextClientOptions {
  readonly host?: string;
  /** Deadline for connecting and, by default, for every read (default 5 s). */
  readonly timeoutMs?: number;
  /** Disable Nagle on the client side (default true: tests want their bytes sent now). */
  readonly noDelay?: boolean;
  /** Speak TLS with these options (CA, client certificate, servername...); resolves once the handshake is done. */
  readonly tls?: ConnectionOptions;
}

interface Waiter {
  readonly resolve: (line: string) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const LF = 0x0a;
const CR = 0x0d;

/**
 * A small line client for integration tests of the text protocols (MerkleKV and memcached).
 * Replies are cut at LF (a CR before it is dropped) on the byte stream and only then decoded as
 * UTF-8, so a character split across TCP segments is never mangled. Reads are queued: lines that
 * arrive before anyone asks wait in order; a read that outlives its deadline or the connection
 * rejects with a `HarnessError` that shows what had arrived.
 */
export class TextClient implements AsyncDisposable {
  /** Resolves when the connection is closed, by either side. */
  readonly closed: Promise<void>;
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #lines: string[] = [];
  readonly #waiters: Waiter[] = [];
  #partial: Buffer[] = [];
  #isClosed = false;
  #closeError: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => {
      this.#closeError = err;
    });
    this.closed = new Promise<void>((resolve) => {
      socket.once('close', () => {
        this.#isClosed = true;
        for (const waiter of this.#waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(this.#closedError());
        }
        resolve();
      });
    });
  }

  /** Opens a connection to host:port (default 127.0.0.1). */
  static connect(port: number, options: TextClientOptions = {}): Promise<TextClient> {
    const host = options.host ?? '127.0.0.1';
    const timeoutMs = options.timeoutMs ?? 5_000;
    return new Promise<TextClient>((resolve, reject) => {
      const socket = options.tls ? connectTls({ ...options.tls, port, host }) : createConnection({ port, host });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new HarnessError('CONNECT_FAILED', `could not connect to ${host}:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new HarnessError('CONNECT_FAILED', `could not connect to ${host}:${port}: ${err.message}`, { cause: err }));
      });
      socket.once(options.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(options.noDelay ?? true);
        resolve(new TextClient(socket, timeoutMs));
      });
    });
  }

  /** Whether the connection has closed. */
  get isClosed(): boolean {
    return this.#isClosed;
  }

  /** Lines received and not yet read. */
  get pendingLines(): number {
    return this.#lines.length;
  }

  /** Sends `line` followed by CRLF (nothing is added if it already ends with LF). */
  send(line: string): void {
    this.write(line.endsWith('\n') ? line : `${line}\r\n`);
  }

  /** Sends raw bytes or text, exactly as given. */
  write(bytes: string | Uint8Array): void {
    if (this.#isClosed) throw this.#closedError();
    this.#socket.write(bytes);
  }

  /** The next line (without its line ending). */
  readLine(timeoutMs = this.#timeoutMs): Promise<string> {
    const line = this.#lines.shift();
    if (line !== undefined) return Promise.resolve(line);
    if (this.#isClosed) return Promise.reject(this.#closedError());
    return new Promise<string>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const index = this.#waiters.indexOf(waiter);
          if (index !== -1) this.#waiters.splice(index, 1);
          const partial = Buffer.concat(this.#partial).toString('utf8');
          reject(new HarnessError('READ_TIMEOUT', `no complete line within ${timeoutMs} ms${partial ? ` (partial: ${JSON.stringify(partial)})` : ''}`));
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** The next `n` lines. */
  async readLines(n: number, timeoutMs = this.#timeoutMs): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    for (let i = 0; i < n; i += 1) lines.push(await this.readLine(Math.max(1, deadline - Date.now())));
    return lines;
  }

  /** Lines up to and including the first that equals `last` (or satisfies it, given a predicate). */
  async readUntil(last: string | ((line: string) => boolean), timeoutMs = this.#timeoutMs): Promise<string[]> {
    const isLast = typeof last === 'string' ? (line: string) => line === last : last;
    const deadline = Date.now() + timeoutMs;
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine(Math.max(1, deadline - Date.now()));
      lines.push(line);
      if (isLast(line)) return lines;
    }
  }

  /** Sends INFO and reads its block (the node ends it with `db_keys:`): each `field:value` line as an entry. */
  async info(timeoutMs = this.#timeoutMs): Promise<Map<string, string>> {
    this.send('INFO');
    const lines = await this.readUntil((line) => line.startsWith('db_keys:'), timeoutMs);
    return new Map(lines.slice(1).map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)] as [string, string]));
  }

  /** Sends `line` and resolves with the one-line reply. */
  request(line: string, timeoutMs = this.#timeoutMs): Promise<string> {
    this.send(line);
    return this.readLine(timeoutMs);
  }

  /** Half-closes (sends FIN); the peer's remaining replies can still be read. */
  end(): void {
    this.#socket.end();
  }

  /** Closes the connection and waits until it is closed. */
  async close(): Promise<void> {
    if (!this.#isClosed) this.#socket.destroy();
    await this.closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #onData(chunk: Buffer): void {
    let start = 0;
    let nl = chunk.indexOf(LF);
    while (nl !== -1) {
      this.#partial.push(chunk.subarray(start, nl));
      const bytes = this.#partial.length === 1 ? (this.#partial[0] as Buffer) : Buffer.concat(this.#partial);
      this.#partial = [];
      const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
      this.#deliver(bytes.toString('utf8', 0, end));
      start = nl + 1;
      nl = chunk.indexOf(LF, start);
    }
    if (start < chunk.length) this.#partial.push(chunk.subarray(start));
  }

  #deliver(line: string): void {
    const waiter = this.#waiters.shift();
    if (waiter === undefined) {
      this.#lines.push(line);
      return;
    }
    clearTimeout(waiter.timer);
    waiter.resolve(line);
  }

  #closedError(): HarnessError {
    const why = this.#closeError !== undefined ? `: ${this.#closeError.message}` : '';
    return new HarnessError('CONNECTION_CLOSED', `connection closed${why}`, { cause: this.#closeError });
  }
}
