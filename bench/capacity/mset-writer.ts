/**
 * Pipelined MSET writes of the capacity data set: `connections` TCP connections, each keeping
 * `depth` MSET lines of `pairsPerMset` pairs in flight; a new line leaves as soon as a reply
 * arrives. Positions 0, 1, 2, … of a `FillOrder` are handed out in batches to whichever
 * connection asks next, so the connections share one sequence and every position is written
 * exactly once (until `stop()`).
 *
 * Every reply must be `OK`; anything else fails the run at once. The one tolerated end is the
 * node going away after `stop()` was asked for with `expectClose` (the kill -9 phase), when
 * the MSETs still in flight are counted, not failed.
 */
import { TextClient } from '#testing';
import { FillOrder, msetLine } from './dataset.js';

export interface MsetWriterOptions {
  readonly port: number;
  readonly connections: number;
  /** MSET lines in flight per connection. */
  readonly depth: number;
  readonly pairsPerMset: number;
  readonly valueBytes: number;
  readonly order: FillOrder;
  /** Positions to write: 0..total-1 of `order` (Infinity: until stopped). */
  readonly total: number;
  /** Deadline for each reply, so a stalled node fails the run instead of hanging it. */
  readonly replyTimeoutMs: number;
}

export interface MsetWriterResult {
  /** Keys whose MSET was answered `OK`. */
  readonly acked: number;
  readonly msets: number;
  readonly seconds: number;
}

export class MsetWriter {
  readonly #options: MsetWriterOptions;
  #next = 0;
  #acked = 0;
  #msets = 0;
  #stopped = false;
  #expectClose = false;
  /** Keys sent and not answered yet, per connection. */
  readonly #inFlight: number[][] = [];

  constructor(options: MsetWriterOptions) {
    this.#options = options;
  }

  /** Keys answered `OK` so far. */
  get acked(): number {
    return this.#acked;
  }

  /** MSET lines sent and not yet answered, and the keys they carry. */
  inFlight(): { msets: number; keys: number } {
    let msets = 0;
    let keys = 0;
    for (const queue of this.#inFlight) {
      msets += queue.length;
      for (const n of queue) keys += n;
    }
    return { msets, keys };
  }

  /**
   * Sends no new MSET. With `expectClose`, the connections closing (the node was killed) ends
   * the run normally instead of failing it.
   */
  stop(options: { expectClose?: boolean } = {}): void {
    this.#stopped = true;
    this.#expectClose = options.expectClose ?? false;
  }

  async run(): Promise<MsetWriterResult> {
    const o = this.#options;
    const started = performance.now();
    const clients = await Promise.all(Array.from({ length: o.connections }, () => TextClient.connect(o.port, { timeoutMs: o.replyTimeoutMs })));
    try {
      await Promise.all(clients.map((client, c) => this.#drive(client, c)));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
    return { acked: this.#acked, msets: this.#msets, seconds: (performance.now() - started) / 1000 };
  }

  /** The next batch of positions, or undefined when all are handed out. */
  #claim(): number[] | undefined {
    const o = this.#options;
    if (this.#stopped || this.#next >= o.total) return undefined;
    const count = Math.min(o.pairsPerMset, o.total - this.#next);
    const indices = Array.from({ length: count }, (_, i) => o.order.at(this.#next + i));
    this.#next += count;
    return indices;
  }

  async #drive(client: TextClient, c: number): Promise<void> {
    const o = this.#options;
    const queue: number[] = [];
    this.#inFlight[c] = queue;
    for (;;) {
      while (queue.length < o.depth) {
        const batch = this.#claim();
        if (batch === undefined) break;
        client.write(msetLine(batch, o.valueBytes));
        queue.push(batch.length);
      }
      if (queue.length === 0) return;
      let reply: string;
      try {
        reply = await client.readLine();
      } catch (err) {
        if (this.#stopped && this.#expectClose) return;
        throw err;
      }
      const keys = queue.shift() as number;
      if (reply !== 'OK') {
        this.#stopped = true;
        throw new Error(`MSET of ${keys} pairs answered ${JSON.stringify(reply.slice(0, 200))} instead of OK`);
      }
      this.#acked += keys;
      this.#msets += 1;
    }
  }
}
