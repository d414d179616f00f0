import { connect, type Socket } from 'node:net';

/** Where a reply ends: the MerkleKV protocol frames multi-line replies differently per command. */
type Framing = (lines: readonly string[]) => boolean;

/** Sent after STATS and INFO, whose key:value lines have no terminator: its PONG ends them. */
const SENTINEL = 'merklekv-cli-end-of-reply';

const counted =
  (title: string): Framing =>
  (lines) => {
    const [first = ''] = lines;
    const match = new RegExp(`^${title} (\\d+)$`).exec(first);
    return match ? lines.length >= 1 + Number(match[1]) : lines.length >= 1;
  };

const untilEnd: Framing = (lines) => lines.length >= 1 && (lines[0]!.startsWith('ERROR') || lines[lines.length - 1] === 'END');

/** The framing of the reply to a request line. */
export function replyFraming(requestLine: string): Framing {
  const [name = '', second = ''] = requestLine.trim().split(/\s+/, 2).map((word) => word.toUpperCase());
  // `VALUES <found>`, then a line per key asked, found or not; or `NOT_FOUND` alone.
  if (name === 'MGET') {
    const asked = requestLine.trim().split(/\s+/).length - 1;
    return (lines) => lines.length >= 1 && (!lines[0]!.startsWith('VALUES ') || lines.length >= 1 + asked);
  }
  if (name === 'SCAN') return counted('KEYS');
  if ((name === 'CLIENT' && second === 'LIST') || name === 'WATCH') return untilEnd;
  if (name === 'STATS' || name === 'INFO') return (lines) => lines.length >= 1 && (lines[0]!.startsWith('ERROR') || lines[lines.length - 1] === `PONG ${SENTINEL}`);
  return (lines) => lines.length >= 1;
}

interface Pending {
  readonly complete: Framing;
  readonly lines: string[];
  readonly onLine: ((line: string) => void) | undefined;
  readonly resolve: (lines: string[]) => void;
  readonly reject: (error: Error) => void;
  readonly sentinel: boolean;
}

const LF = 0x0a;

/**
 * A MerkleKV text-protocol connection for people: one request line at a time or pipelined,
 * each reply collected whole by its command's framing. No deadline: SYNC and WATCH take as long
 * as they take; the caller interrupts.
 */
export class TextConnection {
  readonly #socket: Socket;
  readonly #pending: Pending[] = [];
  #partial: Buffer[] = [];
  #closed: Error | undefined;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
  }

  static open(host: string, port: number, timeoutMs = 5000): Promise<TextConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port });
      const timer = setTimeout(() => socket.destroy(new Error(`no connection to ${host}:${port} within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to ${host}:${port}: ${err.message}`));
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay(true);
        resolve(new TextConnection(socket));
      });
    });
  }

  /**
   * Sends one request line and resolves with its reply's lines. `onLine` hears each line as it
   * arrives (a WATCH streams until it is ended with {@link endWatch}).
   */
  request(line: string, onLine?: (line: string) => void): Promise<string[]> {
    if (this.#closed) return Promise.reject(this.#closed);
    const complete = replyFraming(line);
    const sentinel = /^\s*(STATS|INFO)\b/i.test(line);
    return new Promise((resolve, reject) => {
      this.#pending.push({ complete, lines: [], onLine, resolve, reject, sentinel });
      this.#socket.write(sentinel ? `${line}\r\nPING ${SENTINEL}\r\n` : `${line}\r\n`);
    });
  }

  /** Ends a running WATCH: any line does. */
  endWatch(): void {
    this.#socket.write('\r\n');
  }

  close(): void {
    this.#socket.end();
  }

  #receive(chunk: Buffer): void {
    let start = 0;
    for (let lf = chunk.indexOf(LF); lf !== -1; lf = chunk.indexOf(LF, start)) {
      this.#partial.push(chunk.subarray(start, lf));
      const bytes = Buffer.concat(this.#partial);
      this.#partial = [];
      start = lf + 1;
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      this.#line(bytes.toString('utf8', 0, end));
    }
    if (start < chunk.length) this.#partial.push(Buffer.from(chunk.subarray(start)));
  }

  #line(line: string): void {
    const pending = this.#pending[0];
    if (!pending) return;
    pending.lines.push(line);
    if (!(pending.sentinel && line === `PONG ${SENTINEL}`)) pending.onLine?.(line);
    if (!pending.complete(pending.lines)) return;
    this.#pending.shift();
    pending.resolve(pending.sentinel ? pending.lines.filter((l) => l !== `PONG ${SENTINEL}`) : pending.lines);
  }

  #fail(error: Error): void {
    this.#closed ??= error;
    for (const pending of this.#pending.splice(0)) pending.reject(error);
  }
}
