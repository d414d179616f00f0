import { createRequire } from 'node:module';
import type * as WorkerThreads from 'node:worker_threads';
import { Worker } from 'node:worker_threads';

/**
 * RocksDB's writes, on a thread of their own.
 *
 * The binding writes a batch synchronously: the log append and the memtable inserts (a fraction
 * of a millisecond for a commit group, hundreds for a big checkpoint, longer while RocksDB stalls
 * writes behind its compactions), and with `sync_writes` the log's fsync (milliseconds on network
 * block storage). On the event loop that stopped every connection, reads included, once per
 * commit group. Here one worker thread holds a second reference to the same native database (the
 * binding shares an open database across threads by its handle) and writes every batch, in the
 * order they were given, while the event loop goes on serving reads and gathering the next group.
 * The commit loop still waits for each batch before acknowledging it; the hand-over costs two
 * thread wake-ups per batch.
 *
 * What a read sees does not change: RocksDB applies a batch to its memtables only after the log
 * write (and the fsync, for a durable one) returned, so no reader on any thread sees a batch
 * before it is written; and the thread replies only after that.
 *
 * A batch crosses to the thread as one buffer, moved rather than copied: per record a kind byte
 * (1 put, 0 delete), the key's length (u32 LE) and bytes, and for a put the value's length and
 * bytes. The thread lends the binding views of that buffer, which RocksDB copies into its batch,
 * and moves the buffer back with its answer, to be encoded into again: a buffer left to the
 * thread's collector would wait for a collection a thread that allocates almost nothing seldom
 * runs, holding a commit group's bytes each.
 *
 * The thread never closes the database. The engine detaches it before closing or reopening the
 * database, once every batch it sent is answered: after that the thread's reference would point
 * at a freed database.
 */

const PUT = 1;
const DELETE = 0;

/** A record to write: its RocksDB key, and its value (none: delete the key). */
export type BatchRecord = readonly [key: Uint8Array, value: Uint8Array | undefined];

/** The smallest buffer a batch is encoded into: most commit groups fit, and it is kept for the next. */
const MIN_BATCH_BUFFER_BYTES = 64 * 1024;
/** Larger buffers are not kept once their batch is written: a rare huge group leaves nothing behind. */
const MAX_KEPT_BATCH_BUFFER_BYTES = 4 * 1024 * 1024;

/** Encodes records in the thread's batch format into `spare` when it is large enough, else into a new buffer; returns the bytes used. */
function encodeBatch(records: readonly BatchRecord[], spare: ArrayBuffer | undefined): { buffer: ArrayBuffer; length: number } {
  let size = 0;
  for (const [key, value] of records) size += 5 + key.length + (value === undefined ? 0 : 4 + value.length);
  const buffer = spare !== undefined && spare.byteLength >= size ? spare : new ArrayBuffer(Math.max(size, MIN_BATCH_BUFFER_BYTES));
  const out = Buffer.from(buffer, 0, size);
  let at = 0;
  for (const [key, value] of records) {
    out[at] = value === undefined ? DELETE : PUT;
    out.writeUInt32LE(key.length, at + 1);
    out.set(key, at + 5);
    at += 5 + key.length;
    if (value !== undefined) {
      out.writeUInt32LE(value.length, at);
      out.set(value, at + 4);
      at += 4 + value.length;
    }
  }
  return { buffer, length: size };
}

type ToWriter =
  | { readonly kind: 'attach'; readonly handle: bigint }
  | { readonly kind: 'detach' }
  | { readonly kind: 'write'; readonly id: number; readonly batch: ArrayBuffer; readonly length: number; readonly sync: boolean };

interface FromWriter {
  readonly id: number;
  /** The batch's buffer, moved back to be encoded into again. */
  readonly batch: ArrayBuffer;
  readonly error?: { readonly message: string; readonly code: string | undefined };
}

/** The part of the binding's native API the thread calls. */
interface NativeBatchApi {
  db_init(handle: bigint): unknown;
  batch_init(): unknown;
  batch_put(batch: unknown, key: Uint8Array, value: Uint8Array, options: object): void;
  batch_del(batch: unknown, key: Uint8Array, options: object): void;
  batch_write(db: unknown, batch: unknown, options: { sync: boolean }): void;
  batch_clear(batch: unknown): void;
}

/**
 * The thread's program. It runs from its source text (a worker needs a file or source, and the
 * text of a compiled function serves from dist and under the test runner alike), so it closes
 * over nothing and loads what it needs with `require`.
 */
function writerThread(): void {
  /* eslint-disable @typescript-eslint/no-require-imports -- a worker started from source text is a CommonJS script */
  const { parentPort, workerData } = require('node:worker_threads') as typeof WorkerThreads;
  const binding = require((workerData as { binding: string }).binding) as NativeBatchApi;
  /* eslint-enable @typescript-eslint/no-require-imports */
  const noOptions = {};
  const batch = binding.batch_init();
  let db: unknown;
  parentPort!.on('message', (message: ToWriter) => {
    if (message.kind === 'attach') {
      db = binding.db_init(message.handle);
      return;
    }
    if (message.kind === 'detach') {
      db = undefined;
      return;
    }
    let error: FromWriter['error'];
    try {
      if (db === undefined) throw new Error('the storage is closed');
      const bytes = Buffer.from(message.batch, 0, message.length);
      let at = 0;
      while (at < bytes.length) {
        const put = bytes[at] === 1;
        const keyEnd = at + 5 + bytes.readUInt32LE(at + 1);
        const key = bytes.subarray(at + 5, keyEnd);
        at = keyEnd;
        if (put) {
          const valueEnd = at + 4 + bytes.readUInt32LE(at);
          binding.batch_put(batch, key, bytes.subarray(at + 4, valueEnd), noOptions);
          at = valueEnd;
        } else {
          binding.batch_del(batch, key, noOptions);
        }
      }
      binding.batch_write(db, batch, { sync: message.sync });
    } catch (err) {
      const { message: text, code } = err as { message?: unknown; code?: unknown };
      error = { message: String(text ?? err), code: typeof code === 'string' ? code : undefined };
    } finally {
      binding.batch_clear(batch);
    }
    const reply: FromWriter = error === undefined ? { id: message.id, batch: message.batch } : { id: message.id, batch: message.batch, error };
    parentPort!.postMessage(reply, [message.batch]);
  });
}

interface Waiter {
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** The write thread of one engine; see the module's comment. */
export class RocksDbWriter {
  #worker: Worker | undefined;
  readonly #waiting = new Map<number, Waiter>();
  #nextId = 0;
  #handle: bigint | undefined;
  #drained: (() => void)[] = [];
  /** A buffer back from the thread, for the next batch. */
  #spare: ArrayBuffer | undefined;

  /** Points the thread at an open database. */
  attach(handle: bigint): void {
    this.#handle = handle;
    if (this.#worker) this.#worker.postMessage({ kind: 'attach', handle } satisfies ToWriter);
    else this.#start();
  }

  /** Writes the records as one atomic batch; settles once RocksDB has written it (and synced its log, with `sync`). */
  write(records: readonly BatchRecord[], sync: boolean): Promise<void> {
    const id = this.#nextId++;
    const { buffer, length } = encodeBatch(records, this.#spare);
    if (buffer === this.#spare) this.#spare = undefined;
    return new Promise<void>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      this.#worker?.ref();
      this.#post({ kind: 'write', id, batch: buffer, length, sync }, [buffer]);
    });
  }

  /** Settles once every batch given so far is answered. */
  drained(): Promise<void> {
    if (this.#waiting.size === 0) return Promise.resolve();
    return new Promise<void>((resolve) => this.#drained.push(resolve));
  }

  /** Drops the thread's reference to the database (call it once {@link drained}, before closing the database). */
  detach(): void {
    this.#handle = undefined;
    if (this.#worker) this.#post({ kind: 'detach' });
  }

  /** Stops the thread; a later attach or write starts another. */
  async stop(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#handle = undefined;
    if (worker) await worker.terminate();
  }

  #post(message: ToWriter, transfer: ArrayBuffer[] = []): void {
    (this.#worker ?? this.#start()).postMessage(message, transfer);
  }

  #start(): Worker {
    const worker = new Worker(`(${writerThread.toString()})()`, {
      eval: true,
      workerData: { binding: createRequire(import.meta.url).resolve('@nxtedition/rocksdb/binding.js') },
    });
    worker.unref();
    worker.on('message', (reply: FromWriter) => this.#answered(reply));
    // A thread that died fails what it held; the next write starts another, pointed at the
    // database this one was using (not at once: a thread that cannot start would loop).
    const failed = (err: Error): void => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      const error = new Error(`the storage write thread stopped: ${err.message}`, { cause: err });
      for (const [id, waiter] of this.#waiting) {
        this.#waiting.delete(id);
        waiter.reject(error);
      }
      this.#settleDrained();
    };
    worker.on('error', failed);
    worker.on('exit', (code) => failed(new Error(`exit code ${code}`)));
    this.#worker = worker;
    if (this.#handle !== undefined) worker.postMessage({ kind: 'attach', handle: this.#handle } satisfies ToWriter);
    return worker;
  }

  #answered(reply: FromWriter): void {
    const waiter = this.#waiting.get(reply.id);
    if (!waiter) return;
    this.#waiting.delete(reply.id);
    if (reply.batch.byteLength <= MAX_KEPT_BATCH_BUFFER_BYTES && reply.batch.byteLength > (this.#spare?.byteLength ?? 0)) this.#spare = reply.batch;
    if (this.#waiting.size === 0) {
      this.#worker?.unref();
      this.#settleDrained();
    }
    if (reply.error) waiter.reject(Object.assign(new Error(reply.error.message), { code: reply.error.code }));
    else waiter.resolve();
  }

  #settleDrained(): void {
    for (const resolve of this.#drained.splice(0)) resolve();
  }
}
