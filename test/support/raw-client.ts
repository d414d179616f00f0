import { createConnection, type Socket } from 'node:net';

/**
 * A byte-exact client: what the server sends is kept as raw bytes, so tests can assert every
 * `\r\n`. `expect(n)` waits for the next n bytes (or the close of the connection).
 */
export class RawClient implements AsyncDisposable {
  private buffered = Buffer.alloc(0);
  private ended = false;
  private wake: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      this.wake?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake?.();
    });
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => resolve(new RawClient(socket)));
      socket.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.ended;
  }

  write(bytes: string | Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next `n` bytes as a UTF-8 string; fewer if the connection closes first. */
  async read(n: number, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffered.length < n && !this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes; have ${JSON.stringify(this.buffered.toString('utf8'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const out = this.buffered.subarray(0, n);
    this.buffered = this.buffered.subarray(out.length);
    return out.toString('utf8');
  }

  /** Everything up to and including the first `text` to arrive. */
  async readUntil(text: string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let at: number;
    while ((at = this.buffered.indexOf(text)) < 0) {
      if (this.ended || Date.now() > deadline) throw new Error(`no ${JSON.stringify(text)} in ${JSON.stringify(this.buffered.toString('utf8'))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.read(at + Buffer.byteLength(text));
  }

  /** Sends `request` and returns exactly as many reply bytes as `expected` has. */
  async exchange(request: string | Uint8Array, expected: string, timeoutMs?: number): Promise<string> {
    this.write(request);
    return this.read(Buffer.byteLength(expected), timeoutMs);
  }

  /** Resolves once the server closed the connection. */
  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('connection still open');
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
  }
}
