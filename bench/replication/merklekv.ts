/**
 * The MerkleKV side of the benchmark, all in this process: a writer that SETs `bench:<seq>` on
 * node A over a few pipelined connections and stamps each `OK` as it arrives, and one watcher
 * per other node (`WATCH bench:`) that stamps each `CHANGE bench:<seq> …` as it arrives.
 * Every stamp is taken once per TCP chunk, before parsing it: every reply or line that chunk
 * completes arrived at that moment.
 */
import { createConnection, type Socket } from 'node:net';
import { merklekv, Reply } from '../lib/protocols.js';
import { nowMs, type WriteTarget } from './drive.js';
import { type SampleBook } from './samples.js';
import { seqOfKey, WatchParser, type WatchLine } from './watch-parser.js';

export const KEY_PREFIX = 'bench:';

function connect(port: number, host = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ port, host });
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.removeListener('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
  });
}

/** A fixed-size FIFO of numbers that grows when full (the writes in flight on one connection). */
class NumberQueue {
  #buf = new Float64Array(64);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(value: number): void {
    if (this.#length === this.#buf.length) {
      const grown = new Float64Array(this.#buf.length * 2);
      for (let i = 0; i < this.#length; i += 1) grown[i] = this.#buf[(this.#head + i) % this.#buf.length] as number;
      this.#buf = grown;
      this.#head = 0;
    }
    this.#buf[(this.#head + this.#length) % this.#buf.length] = value;
    this.#length += 1;
  }

  shift(): number | undefined {
    if (this.#length === 0) return undefined;
    const value = this.#buf[this.#head] as number;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#length -= 1;
    return value;
  }
}

/** `SET bench:<seq> <value>\r\n`; the value is `valueBytes` printable bytes without spaces. */
export function setRequest(seq: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`SET ${KEY_PREFIX}${seq} `), value, Buffer.from('\r\n')]);
}

/** SETs on one node over `connections` pipelined connections; replies come back in order per connection. */
export class MerkleKvWriter implements WriteTarget {
  readonly name = 'merklekv';
  #inFlight = 0;
  #failures = 0;
  #closed = false;

  private constructor(
    readonly book: SampleBook,
    private readonly sockets: readonly Socket[],
    private readonly pending: readonly NumberQueue[],
    private readonly callbacks: readonly (() => void)[][],
    private readonly value: (seq: number) => Buffer,
    private readonly onFatal: (err: Error) => void,
  ) {}

  static async open(options: {
    port: number;
    connections: number;
    book: SampleBook;
    value: (seq: number) => Buffer;
    onFatal: (err: Error) => void;
  }): Promise<MerkleKvWriter> {
    const sockets = await Promise.all(Array.from({ length: options.connections }, () => connect(options.port)));
    const pending = sockets.map(() => new NumberQueue());
    const callbacks = sockets.map(() => [] as (() => void)[]);
    const writer = new MerkleKvWriter(options.book, sockets, pending, callbacks, options.value, options.onFatal);
    sockets.forEach((socket, c) => writer.#wire(socket, c));
    return writer;
  }

  get lanes(): number {
    return this.sockets.length;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get failures(): number {
    return this.#failures;
  }

  send(seq: number, lane: number, done: () => void): void {
    const socket = this.sockets[lane];
    if (socket === undefined) throw new RangeError(`no connection ${lane}`);
    const request = setRequest(seq, this.value(seq));
    this.pending[lane]?.push(seq);
    this.callbacks[lane]?.push(done);
    this.#inFlight += 1;
    this.book.issued(seq, nowMs());
    socket.write(request);
  }

  close(): void {
    this.#closed = true;
    for (const s of this.sockets) s.destroy();
  }

  #wire(socket: Socket, c: number): void {
    const queue = this.pending[c] as NumberQueue;
    const callbacks = this.callbacks[c] as (() => void)[];
    let now = 0;
    const parser = merklekv.createParser((reply) => {
      const seq = queue.shift();
      const done = callbacks.shift();
      if (seq === undefined || done === undefined) {
        this.onFatal(new Error(`merklekv writer connection ${c}: a reply with no request in flight`));
        return;
      }
      this.#inFlight -= 1;
      if (reply === Reply.Ok) this.book.acked(seq, now);
      else this.#failures += 1;
      done();
    });
    socket.on('data', (chunk: Buffer) => {
      now = nowMs();
      // Writes sent by this chunk's callbacks (closed loop) leave in one segment.
      socket.cork();
      parser.feed(chunk);
      socket.uncork();
    });
    socket.on('error', (err) => {
      if (!this.#closed) this.onFatal(new Error(`merklekv writer connection ${c}: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => {
      if (!this.#closed) this.onFatal(new Error(`merklekv writer connection ${c} closed by the node`));
    });
  }
}

/** A `WATCH bench:` connection on one node that stamps when each write becomes visible there. */
export class Watcher {
  /** Lines other than changes of benchmark keys (probe keys excluded): should stay 0. */
  unexpected = 0;
  #closed = false;
  readonly #others = new Set<string>();
  readonly #otherWaiters = new Map<string, () => void>();

  private constructor(
    readonly name: string,
    private readonly socket: Socket,
  ) {}

  /**
   * Connects, starts the watch and resolves once the node confirmed it (`WATCHING bench:`).
   * Changes of `bench:<seq>` go to `book` as observer `observer`.
   */
  static async open(options: {
    name: string;
    port: number;
    book: SampleBook;
    observer: number;
    onFatal: (err: Error) => void;
    progress: (message: string) => void;
  }): Promise<Watcher> {
    const socket = await connect(options.port);
    const watcher = new Watcher(options.name, socket);
    let confirmed: (() => void) | undefined;
    const started = new Promise<void>((resolve) => (confirmed = resolve));
    let now = 0;
    const onLine = (line: WatchLine): void => {
      switch (line.kind) {
        case 'change': {
          const seq = seqOfKey(line.key, KEY_PREFIX);
          if (seq !== undefined) options.book.seen(options.observer, seq, now);
          else watcher.#other(line.key);
          return;
        }
        case 'watching':
          confirmed?.();
          confirmed = undefined;
          return;
        case 'end':
          return;
        case 'error':
          options.onFatal(new Error(`watcher on ${options.name}: ERROR ${line.message}`));
          return;
        default:
          watcher.unexpected += 1;
          if (watcher.unexpected <= 5) options.progress(`watcher on ${options.name}: unexpected line ${JSON.stringify(line)}`);
      }
    };
    const parser = new WatchParser(onLine);
    socket.on('data', (chunk: Buffer) => {
      now = nowMs();
      parser.feed(chunk);
    });
    socket.on('error', (err) => {
      if (!watcher.#closed) options.onFatal(new Error(`watcher on ${options.name}: ${err.message}`, { cause: err }));
    });
    socket.on('close', () => {
      if (!watcher.#closed) options.onFatal(new Error(`watcher on ${options.name}: connection closed by the node`));
    });
    socket.write(`WATCH ${KEY_PREFIX}\r\n`);
    await withTimeout(started, 10_000, `watcher on ${options.name}: no WATCHING reply`);
    return watcher;
  }

  /** Resolves once a change of `key` (not a benchmark sequence key) was seen. */
  waitForKey(key: string, timeoutMs: number): Promise<boolean> {
    if (this.#others.has(key)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#otherWaiters.delete(key);
        resolve(false);
      }, timeoutMs);
      this.#otherWaiters.set(key, () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Ends the watch (any line does) and closes the connection. */
  close(): void {
    this.#closed = true;
    if (!this.socket.destroyed) this.socket.end('END\r\n');
    this.socket.destroySoon();
  }

  #other(key: string): void {
    this.#others.add(key);
    this.#otherWaiters.get(key)?.();
    this.#otherWaiters.delete(key);
  }
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
