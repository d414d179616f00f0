import { connect, type Socket } from 'node:net';

/** A reply line of a peer that does not speak anti-entropy (`ERROR Unknown command: AE`, or a standalone node). */
export class NotASessionPeer extends Error {
  override readonly name = 'NotASessionPeer';
}

interface Waiter {
  /** Lines that follow the first one, given the first (SCAN's `KEYS <n>`). */
  readonly more: (first: string) => number;
  readonly lines: string[];
  expected: number;
  resolve(lines: string[]): void;
  reject(error: Error): void;
}

/** Longest reply line accepted: a session reply of 512 KiB and its summaries, in base64, with room. */
const MAX_LINE_BYTES = 8 << 20;

/**
 * A client of the MerkleKV text protocol for SYNC: pipelined requests, replies matched in
 * order. It carries anti-entropy messages as `AE <base64>` lines to one of our nodes, and SCAN
 * and GET to a server without anti-entropy.
 */
export class TextPeer {
  readonly #socket: Socket;
  readonly #timeoutMs: number;
  readonly #waiters: Waiter[] = [];
  #buffer = '';
  #failure: Error | undefined;

  private constructor(socket: Socket, timeoutMs: number) {
    this.#socket = socket;
    this.#timeoutMs = timeoutMs;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the peer closed the connection')));
  }

  static connect(host: string, port: number, timeoutMs: number): Promise<TextPeer> {
    // `SYNC [::1] 7379`: brackets are address syntax, not part of the host.
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return new Promise((resolve, reject) => {
      const socket = connect({ host: bare, port });
      const timer = setTimeout(() => socket.destroy(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(new TextPeer(socket, timeoutMs));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  /** One anti-entropy message; rejects with {@link NotASessionPeer} when the peer answers an error. */
  async exchange(message: Uint8Array): Promise<Uint8Array> {
    const [line] = await this.#request(`AE ${Buffer.from(message).toString('base64')}`);
    if (line!.startsWith('AE ')) return Buffer.from(line!.slice(3), 'base64');
    throw new NotASessionPeer(line);
  }

  /** SCAN: every key. */
  async scan(): Promise<string[]> {
    const lines = await this.#request('SCAN', (first) => {
      const match = /^KEYS (\d+)$/.exec(first);
      return match ? Number(match[1]) : 0;
    });
    if (!lines[0]!.startsWith('KEYS ')) throw new Error(`SCAN answered ${JSON.stringify(lines[0]!.slice(0, 200))}`);
    return lines.slice(1);
  }

  /** GET: a value, undefined when absent. */
  async get(key: string): Promise<Uint8Array | undefined> {
    const [line] = await this.#request(`GET ${key}`);
    if (line === 'NOT_FOUND') return undefined;
    if (line!.startsWith('VALUE ')) return Buffer.from(line!.slice(6), 'utf8');
    throw new Error(`GET ${key} answered ${JSON.stringify(line!.slice(0, 200))}`);
  }

  /** Bytes written to and read from the peer so far. */
  get traffic(): { sent: number; received: number } {
    return { sent: this.#socket.bytesWritten, received: this.#socket.bytesRead };
  }

  close(): void {
    this.#socket.destroy();
  }

  #request(line: string, more: (first: string) => number = () => 0): Promise<string[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.#fail(new Error(`no reply within ${this.#timeoutMs} ms`)), this.#timeoutMs);
      this.#waiters.push({
        more,
        lines: [],
        expected: -1,
        resolve: (lines) => {
          clearTimeout(timer);
          resolve(lines);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.#socket.write(`${line}\r\n`);
    });
  }

  #receive(chunk: string): void {
    this.#buffer += chunk;
    let newline: number;
    while ((newline = this.#buffer.indexOf('\n')) !== -1) {
      const line = this.#buffer.slice(0, newline).replace(/\r$/, '');
      this.#buffer = this.#buffer.slice(newline + 1);
      const waiter = this.#waiters[0];
      if (waiter === undefined) return this.#fail(new Error(`an unexpected reply line: ${JSON.stringify(line.slice(0, 200))}`));
      waiter.lines.push(line);
      if (waiter.expected < 0) waiter.expected = line.startsWith('ERROR ') ? 0 : waiter.more(line);
      if (waiter.lines.length > waiter.expected) {
        this.#waiters.shift();
        waiter.resolve(waiter.lines);
      }
    }
    if (this.#buffer.length > MAX_LINE_BYTES) this.#fail(new Error(`a reply line longer than ${MAX_LINE_BYTES} bytes`));
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(this.#failure);
    this.#socket.destroy();
  }
}
