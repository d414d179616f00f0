import { type Socket } from 'node:net';
import { type ClientHandle, type Command, type CommandPort, type CommandStats, isKvError, type WatchFeed, WRITE_COMMANDS } from '#commands';
import { type Logger } from '#logging';
import { encodeMerkleKvError, encodeMerkleKvReply, encodeMerkleKvWatchEvent, MerkleKvDecoder, type MerkleKvEvent, WATCH_END } from '#protocol';

/** Pipelined requests waiting beyond this pause reading until replies drain. */
const MAX_PENDING_REPLIES = 1024;
/** Unsent reply bytes beyond this pause reading until the client catches up. */
const MAX_UNSENT_BYTES = 8 * 1024 * 1024;

const NO_BYTES = Buffer.alloc(0);

interface Slot {
  bytes: Buffer | undefined;
  close: boolean;
}

/**
 * One MerkleKV text-protocol client. Requests are decoded as bytes arrive; each is executed at
 * once (reads answer synchronously, writes when durable) and replies leave strictly in request
 * order, whatever order the writes complete in. A reply that ends the connection (line too
 * long, invalid UTF-8) is written after every reply before it.
 */
export class MerkleKvConnection {
  private readonly slots: Slot[] = [];
  private readonly decoder: MerkleKvDecoder;
  private closing = false;
  private drained: (() => void) | undefined;
  /** Writes executed whose replies have not come back yet, and the latest of them. */
  private writesInFlight = 0;
  private lastWrite: Promise<void> = Promise.resolve();
  /** Commands queued behind a write they must observe; they run in arrival order on `turn`. */
  private waiting = 0;
  private turn: Promise<void> = Promise.resolve();
  /** The running WATCH, if any: its events go straight out until the client's next line. */
  private watch: WatchFeed | undefined;
  /** A WATCH waits its turn behind a write; the line after it must end it, not run. */
  private watchQueued = false;
  private watchEndedEarly = false;
  private corked = false;

  constructor(
    private readonly socket: Socket,
    private readonly client: ClientHandle,
    private readonly executor: CommandPort,
    private readonly stats: CommandStats,
    private readonly logger: Logger,
  ) {
    this.decoder = new MerkleKvDecoder((event) => this.onEvent(event));
    socket.on('data', (chunk: Buffer) => {
      client.touch(Date.now());
      socket.cork();
      this.decoder.push(chunk);
      socket.uncork();
    });
    socket.on('drain', () => this.resumeIfRoom());
    socket.on('error', (err) => logger.debug('client socket error', { client: client.id, error: err.message }));
    socket.on('close', () => {
      this.stopWatch();
      client.release();
      this.drained?.();
    });
  }

  /** Stops reading, lets every reply owed go out, then closes the connection. */
  drain(): Promise<void> {
    this.stopWatch();
    this.socket.pause();
    this.closing = true;
    if (this.socket.destroyed) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    if (this.slots.length === 0) this.socket.end();
    return done;
  }

  /** Last resort when a client does not let its connection close. */
  destroy(): void {
    this.socket.destroy();
  }

  private onEvent(event: MerkleKvEvent): void {
    if (event.kind === 'command' || event.kind === 'error') {
      // Whatever line the client sends after WATCH ends the watch; it is not executed.
      if (this.watch) {
        this.stopWatch();
        this.push(WATCH_END, false);
        return;
      }
      if (this.watchQueued && !this.watchEndedEarly) {
        this.watchEndedEarly = true;
        return;
      }
    }
    switch (event.kind) {
      case 'command':
        this.run(event.command);
        return;
      case 'error':
        this.stats.countError();
        this.push(encodeMerkleKvError(event.message), false);
        return;
      case 'tooLong':
        this.stats.countError();
        this.push(encodeMerkleKvError('line too long'), true);
        return;
      case 'invalidUtf8':
        this.push(NO_BYTES, true);
        return;
    }
  }

  /**
   * Executes at once unless the client must first see its own writes: a read behind an
   * unfinished write waits for it, and everything after a waiting command waits its turn.
   */
  private run(command: Command): void {
    const isWrite = WRITE_COMMANDS.has(command.name);
    if (this.waiting === 0 && (isWrite || this.writesInFlight === 0)) {
      this.execute(command, undefined);
      return;
    }
    const slot = this.reserve();
    this.waiting++;
    if (command.name === 'WATCH') this.watchQueued = true;
    this.turn = this.turn.then(async () => {
      if (!isWrite && this.writesInFlight > 0) await this.lastWrite;
      this.waiting--;
      this.execute(command, slot);
    });
  }

  private execute(command: Command, slot: Slot | undefined): void {
    let result: unknown;
    try {
      result = this.executor.execute(command);
    } catch (err) {
      this.deliver(slot, this.errorReply(err));
      return;
    }
    if (!(result instanceof Promise)) {
      if (command.name === 'WATCH') this.beginWatch(slot, this.encode(command, result), result as WatchFeed);
      else this.deliver(slot, this.encode(command, result));
      return;
    }
    const pending = slot ?? this.reserve();
    if (command.name === 'WATCH') {
      // A gateway of a split deployment registers the watch with every shard first; a line the
      // client sends meanwhile ends the watch, as it would once streaming.
      this.watchQueued = true;
      result.then(
        (feed: unknown) => this.beginWatch(pending, this.encode(command, feed), feed as WatchFeed),
        (err: unknown) => {
          this.watchQueued = false;
          this.watchEndedEarly = false;
          this.fill(pending, this.errorReply(err));
        },
      );
      return;
    }
    this.writesInFlight++;
    const settled = result.then(
      (value: unknown) => this.fill(pending, this.encode(command, value)),
      (err: unknown) => this.fill(pending, this.errorReply(err)),
    );
    this.lastWrite = settled.finally(() => this.writesInFlight--);
  }

  /** The reply bytes, or an ERROR when the result cannot be framed (a value holding a line feed). */
  private encode(command: Command, result: unknown): Buffer {
    try {
      return encodeMerkleKvReply(command, result as never);
    } catch (err) {
      return this.errorReply(err);
    }
  }

  /** WATCHING, then the events; or WATCHING END at once when a line already followed it. */
  private beginWatch(slot: Slot | undefined, header: Buffer, feed: WatchFeed): void {
    const endedEarly = this.watchQueued && this.watchEndedEarly;
    this.watchQueued = false;
    this.watchEndedEarly = false;
    if (endedEarly || this.closing || this.socket.destroyed) {
      feed.stop();
      this.deliver(slot, Buffer.concat([header, WATCH_END]));
      return;
    }
    this.deliver(slot, header);
    this.startWatch(feed);
  }

  /**
   * Streams a watch's events. Its header was just queued; commands after WATCH end it, so no
   * later reply can be waiting. A watcher that cannot keep up is disconnected rather than
   * buffered without bound.
   */
  private startWatch(feed: WatchFeed): void {
    this.watch = feed;
    // Nagle stays on for request/reply (PROTOCOL.md), but a watcher sends nothing that would
    // carry our ACKs: without this, each event line waits for the delayed-ACK timer.
    this.socket.setNoDelay(true);
    feed.start((event) => {
      if (this.socket.destroyed || this.closing) return;
      if (this.socket.writableLength > MAX_UNSENT_BYTES) {
        // It does not read: an orderly close would wait behind the unread bytes for ever.
        this.stopWatch();
        this.logger.warn('dropped a watcher that reads too slowly', { client: this.client.id });
        this.socket.destroy();
        return;
      }
      let line: Buffer;
      try {
        line = encodeMerkleKvWatchEvent(event);
      } catch (err) {
        line = this.errorReply(err);
      }
      this.corkUntilTurnEnds();
      this.push(line, false);
    });
  }

  /** A commit group's events arrive in one synchronous burst: one write for them all, not one syscall per line. */
  private corkUntilTurnEnds(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    queueMicrotask(() => {
      this.corked = false;
      this.socket.uncork();
    });
  }

  private stopWatch(): void {
    if (!this.watch) return;
    this.watch.stop();
    this.watch = undefined;
    if (!this.socket.destroyed) this.socket.setNoDelay(false);
  }

  private reserve(): Slot {
    const slot: Slot = { bytes: undefined, close: false };
    this.slots.push(slot);
    if (this.slots.length > MAX_PENDING_REPLIES) this.socket.pause();
    return slot;
  }

  private deliver(slot: Slot | undefined, bytes: Buffer): void {
    if (slot) this.fill(slot, bytes);
    else this.push(bytes, false);
  }

  private push(bytes: Buffer, close: boolean): void {
    if (this.slots.length === 0) {
      this.send(bytes, close);
    } else {
      this.slots.push({ bytes, close });
    }
  }

  private fill(slot: Slot, bytes: Buffer): void {
    slot.bytes = bytes;
    if (this.slots[0] !== slot) return;
    this.socket.cork();
    while (this.slots.length > 0 && this.slots[0]!.bytes !== undefined) {
      const ready = this.slots.shift()!;
      this.send(ready.bytes!, ready.close);
    }
    this.socket.uncork();
    if (this.slots.length === 0 && this.closing) this.socket.end();
    this.resumeIfRoom();
  }

  private send(bytes: Buffer, close: boolean): void {
    if (this.socket.destroyed) return;
    if (bytes.length > 0) this.socket.write(bytes);
    if (close) {
      this.closing = true;
      this.slots.length = 0;
      this.socket.end();
      return;
    }
    if (this.socket.writableLength > MAX_UNSENT_BYTES) this.socket.pause();
  }

  private resumeIfRoom(): void {
    if (this.closing || this.socket.destroyed) return;
    if (this.slots.length <= MAX_PENDING_REPLIES && this.socket.writableLength <= MAX_UNSENT_BYTES) this.socket.resume();
  }

  private errorReply(err: unknown): Buffer {
    this.stats.countError();
    if (isKvError(err)) return encodeMerkleKvError(err.message);
    this.logger.error('command failed unexpectedly', { client: this.client.id, error: err });
    return encodeMerkleKvError(`internal error: ${err instanceof Error ? err.message : String(err)}`);
  }
}
