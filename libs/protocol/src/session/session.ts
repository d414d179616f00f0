/**
 * A protocol session: what one client connection of a line protocol does between its decoder and
 * its socket, with no socket in sight (the adapter hands it a {@link SessionTransport}).
 *
 * Design
 * ------
 * Ordered replies. Requests are executed as they are decoded: reads answer synchronously, writes
 * when durable. Every reply takes its place in a queue of slots in request order and leaves only
 * when every reply before it has, whatever order the results arrive in.
 *
 * Read-your-writes. A command that is not a write waits until every earlier write whose result
 * is still pending has settled, so a client always reads its own pipelined writes; writes do not
 * wait for each other (the store orders them) nor for reads (a read answered later still reads
 * what was committed before the write), reads do not wait for reads (a GET that missed the
 * cache answers with the turn's other misses), and everything after a waiting command waits too.
 *
 * Bounded work. Decoded requests are admitted one at a time, and only while the connection has
 * room: fewer than `maxPendingReplies` replies owed and fewer than `maxUnsentBytes` bytes held
 * (replies in the transport and in slots waiting behind an earlier reply, values of writes not
 * yet durable). A chunk of input can
 * hold thousands of pipelined requests; once the budget is full the rest of the chunk waits, as
 * decoded requests, in the backlog, and the transport stops reading. They run as replies drain
 * ({@link ProtocolSession.writable}) or as pending results settle, and reading resumes once the
 * backlog is empty. So a client that pipelines GETs of large values without reading holds at
 * most one budget of replies plus one chunk of requests, never a reply per request it sent.
 *
 * Fair turns. Room in the budget is not enough to go on: a client that reads as fast as the node
 * writes keeps the budget empty (a socket write the kernel takes at once signals 'drain' before
 * the event loop moves on), and one connection would then produce replies without end while
 * every other one waits. So a connection that has produced `maxTurnReplies` replies or
 * `maxTurnBytes` bytes of them yields: what is left waits in the backlog until the next turn of
 * the event loop (`nextTurn`, setImmediate), after the other connections' I/O. The count runs
 * from the last yield rather than from the start of each turn (which the session cannot see):
 * a connection that produces little per turn yields now and then for nothing, at the cost of
 * one setImmediate, and no turn ever holds more than one budget of a connection's replies.
 *
 * Watches. After a WATCH the session streams the feed's events straight to the transport until
 * the client's next line, which ends the watch (and is not executed). A watcher whose unsent
 * events pass `maxUnsentBytes` is disconnected rather than buffered without bound.
 */
import { type Command, type CommandPort, type CommandStats, isKvError, type KvErrorCode, type WatchEvent, type WatchFeed, WRITE_COMMANDS } from '#commands';
import { type Logger } from '#logging';
import { replyLength, replyPieces, type ReplyBytes } from './reply-bytes.js';

/** What a session needs of its connection: a byte sink with flow control. */
export interface SessionTransport {
  /** Bytes written that the peer has not taken yet (a socket's `writableLength`). */
  readonly unsentBytes: number;
  /** True once the connection is gone: writes are dropped. */
  readonly closed: boolean;
  write(bytes: Uint8Array): void;
  /** Closes the connection once the bytes written are out. */
  end(): void;
  /** Drops the connection at once. */
  destroy(): void;
  pauseReading(): void;
  resumeReading(): void;
  /** Writes between cork and uncork leave together. */
  cork(): void;
  uncork(): void;
  /** Nagle's algorithm off while a watch streams (its events carry no ACKs back). */
  setNoDelay(noDelay: boolean): void;
}

/**
 * A protocol as a session runs it: how requests are decoded and replies framed. `X` is what the
 * protocol's decoder attaches to a command to frame its reply (memcached: the request as sent).
 */
export interface SessionProtocol<X = unknown> {
  /**
   * A decoder for one connection that hands `accept` each request, in input order, from inside
   * `push`; `port` is the connection's command port, for what a protocol runs on its own schedule.
   */
  createDecoder(accept: (input: SessionInput<X>) => void, port: CommandPort): SessionDecoder;
  /** The reply bytes; may throw when the result cannot be framed (the client then gets an error). */
  encodeReply(command: Command, result: unknown, context: X | undefined): ReplyBytes;
  /** A failed command's reply: `code` is the KvError's (undefined for a bug). */
  encodeError(message: string, code?: KvErrorCode, context?: X): Buffer;
  encodeWatchEvent(event: WatchEvent): Buffer;
  /** Sent when the client's next line ends a watch. */
  readonly watchEnd: Buffer;
}

export interface SessionDecoder {
  push(chunk: Uint8Array): void;
  /** Bytes of a request begun and not complete yet. */
  readonly bufferedBytes: number;
}

/** One decoded request, as a protocol's decoder event maps to it. */
export type SessionInput<X = unknown> =
  | { readonly kind: 'command'; readonly command: Command; readonly context?: X }
  /** A malformed request: an error reply, the connection stays. */
  | { readonly kind: 'error'; readonly message: string }
  /** A request answered without the command layer (a protocol's no-op, a refusal framed by the protocol), in order. */
  | { readonly kind: 'reply'; readonly reply: ReplyBytes; readonly countsAsError: boolean }
  /** Input the connection cannot go on from: the reply (maybe empty) after every earlier one, then close. */
  | { readonly kind: 'fatal'; readonly reply: ReplyBytes; readonly countsAsError: boolean };

export interface SessionLimits {
  /** Replies owed (pending or waiting behind an earlier one) beyond which no request is admitted. */
  readonly maxPendingReplies: number;
  /** Unsent reply bytes beyond which no request is admitted, and a watcher is disconnected. */
  readonly maxUnsentBytes: number;
  /** Replies a connection produces before it yields to the others for a turn of the event loop. */
  readonly maxTurnReplies: number;
  /** Reply bytes a connection produces before it yields (one reply always runs, however large). */
  readonly maxTurnBytes: number;
}

/**
 * A turn's budget of 128 replies or 256 KiB: a few milliseconds of work at most (1 MB values go
 * out one per turn), while a pipelining client yields once per 128 small replies, too rarely to
 * cost it throughput.
 */
export const DEFAULT_SESSION_LIMITS: SessionLimits = {
  maxPendingReplies: 1024,
  maxUnsentBytes: 8 * 1024 * 1024,
  maxTurnReplies: 128,
  maxTurnBytes: 256 * 1024,
};

/** How long a connection may go without progress before {@link ProtocolSession.overdue} says close it. */
export interface SessionTimeouts {
  /** Without a complete request or the client taking replies, in ms; 0: no limit. */
  readonly idleMs: number;
  /** For a request begun to complete, in ms: bytes trickling in do not extend it. */
  readonly requestMs: number;
}

export interface SessionDeps<X = unknown> {
  readonly executor: CommandPort;
  readonly stats: CommandStats;
  readonly protocol: SessionProtocol<X>;
  /** Carries the client's id in its fields. */
  readonly logger: Logger;
  readonly limits?: SessionLimits;
  /** Milliseconds, for the timeouts (default Date.now). */
  readonly clock?: () => number;
  /** Runs `resume` in a later turn of the event loop, after pending I/O (default setImmediate). */
  readonly nextTurn?: (resume: () => void) => void;
}

interface Slot {
  bytes: ReplyBytes | undefined;
  close: boolean;
}

export class ProtocolSession<X = unknown> {
  private readonly executor: CommandPort;
  private readonly stats: CommandStats;
  private readonly protocol: SessionProtocol<X>;
  private readonly decoder: SessionDecoder;
  private readonly clock: () => number;
  private readonly nextTurn: (resume: () => void) => void;
  /** Replies and their bytes produced since the last yield (see Fair turns). */
  private turnReplies = 0;
  private turnBytes = 0;
  /** The budget of this turn is spent: requests wait until `startTurn` runs. */
  private yielding = false;
  /** When the client last made progress: a complete request, or replies taken. */
  private lastProgressAt: number;
  /** When the request now incomplete began arriving, if one is. */
  private partialSince: number | undefined;
  /** The chunk being decoded held a complete request. */
  private acceptedAny = false;
  private readonly logger: Logger;
  private readonly limits: SessionLimits;
  private readonly slots: Slot[] = [];
  /** Bytes of filled slots still waiting behind an earlier reply. */
  private heldBytes = 0;
  /** Decoded requests not admitted yet, from `backlogHead` on. */
  private readonly backlog: SessionInput<X>[] = [];
  private backlogHead = 0;
  /** Commands executed whose results have not settled, and the bytes they carry (values being written). */
  private pendingResults = 0;
  private pendingBytes = 0;
  /** Of those, the writes: what a later read must wait for. */
  private pendingWrites = 0;
  private readingPaused = false;
  private pumping = false;
  private closing = false;
  private drained: (() => void) | undefined;
  /** The running WATCH, if any. */
  private watch: WatchFeed | undefined;
  /** A WATCH whose feed has not arrived yet (a split deployment registers it with every shard first). */
  private watchPending = false;
  /** A line arrived while the WATCH was pending: the watch ends as soon as it starts. */
  private watchEndedEarly = false;
  private corked = false;

  constructor(
    private readonly transport: SessionTransport,
    deps: SessionDeps<X>,
  ) {
    this.executor = deps.executor;
    this.stats = deps.stats;
    this.protocol = deps.protocol;
    this.decoder = deps.protocol.createDecoder((input) => this.accept(input), deps.executor);
    this.logger = deps.logger;
    this.limits = deps.limits ?? DEFAULT_SESSION_LIMITS;
    this.clock = deps.clock ?? Date.now;
    this.nextTurn = deps.nextTurn ?? setImmediate;
    this.lastProgressAt = this.clock();
  }

  /** Bytes from the client: their requests run, or wait in the backlog while the budget is full. */
  receive(chunk: Uint8Array): void {
    this.acceptedAny = false;
    this.transport.cork();
    this.decoder.push(chunk);
    this.transport.uncork();
    const now = this.clock();
    if (this.acceptedAny) {
      this.lastProgressAt = now;
      this.partialSince = undefined;
    }
    if (this.decoder.bufferedBytes > 0) this.partialSince ??= now;
    this.updateReading();
  }

  /** The transport took the bytes it held (a socket's 'drain'): admit what waits. */
  writable(): void {
    this.lastProgressAt = this.clock();
    this.pump();
  }

  /**
   * Why the connection should be closed now, if it should: idle (no complete request and no
   * replies taken for `idleMs`), or a request begun `requestMs` ago and still incomplete, however
   * many bytes of it trickle in. A running watch or command is not idle: it waits for events or a
   * result, not for the client.
   */
  overdue(timeouts: SessionTimeouts): 'idle' | 'incomplete request' | undefined {
    const now = this.clock();
    if (this.partialSince !== undefined && now - this.partialSince >= timeouts.requestMs) return 'incomplete request';
    if (timeouts.idleMs === 0 || this.watch !== undefined || this.watchPending || this.pendingResults > 0) return undefined;
    return now - this.lastProgressAt >= timeouts.idleMs ? 'idle' : undefined;
  }

  /** The connection is gone. */
  closed(): void {
    this.stopWatch();
    this.dropBacklog();
    this.drained?.();
  }

  /** Stops taking requests, lets every reply owed go out, then closes; resolves once closed. */
  drain(): Promise<void> {
    this.stopWatch();
    this.transport.pauseReading();
    this.readingPaused = true;
    this.closing = true;
    this.dropBacklog();
    if (this.transport.closed) return Promise.resolve();
    const done = new Promise<void>((resolve) => {
      this.drained = resolve;
    });
    if (this.slots.length === 0) this.transport.end();
    return done;
  }

  private hasRoom(): boolean {
    return this.slots.length < this.limits.maxPendingReplies && this.transport.unsentBytes + this.heldBytes + this.pendingBytes < this.limits.maxUnsentBytes;
  }

  private runnable(input: SessionInput<X>): boolean {
    if (this.yielding || !this.hasRoom()) return false;
    // A line that ends a watch runs at once; anything else that reads waits for the results before it.
    if (input.kind !== 'command' || this.watch !== undefined || this.watchPending) return true;
    return this.pendingWrites === 0 || WRITE_COMMANDS.has(input.command.name);
  }

  /** One decoded request: runs at once when nothing waits and the budget has room, else joins the backlog. */
  private accept(input: SessionInput<X>): void {
    this.acceptedAny = true;
    if (this.closing) return;
    if (this.backlogHead === this.backlog.length && this.runnable(input)) {
      this.process(input);
      return;
    }
    this.backlog.push(input);
  }

  /** Admits waiting requests in order while they may run, then reads again if none is left. */
  private pump(): void {
    if (this.pumping) return;
    if (this.backlogHead === this.backlog.length) {
      this.updateReading();
      return;
    }
    this.pumping = true;
    this.transport.cork();
    try {
      while (!this.closing && !this.transport.closed && this.backlogHead < this.backlog.length) {
        const input = this.backlog[this.backlogHead]!;
        if (!this.runnable(input)) break;
        this.backlogHead++;
        this.process(input);
      }
      if (this.backlogHead === this.backlog.length) this.dropBacklog();
    } finally {
      this.transport.uncork();
      this.pumping = false;
    }
    this.updateReading();
  }

  private updateReading(): void {
    if (this.closing || this.transport.closed) return;
    const read = this.backlogHead === this.backlog.length && this.hasRoom();
    if (read === !this.readingPaused) return;
    this.readingPaused = !read;
    if (read) this.transport.resumeReading();
    else this.transport.pauseReading();
  }

  /** Counts a reply produced; once the turn's budget is spent, the rest waits for the next turn. */
  private produced(bytes: number): void {
    this.turnReplies++;
    this.turnBytes += bytes;
    if (this.yielding || (this.turnReplies < this.limits.maxTurnReplies && this.turnBytes < this.limits.maxTurnBytes)) return;
    this.yielding = true;
    this.nextTurn(this.startTurn);
  }

  private readonly startTurn = (): void => {
    this.yielding = false;
    this.turnReplies = 0;
    this.turnBytes = 0;
    this.pump();
  };

  private dropBacklog(): void {
    this.backlog.length = 0;
    this.backlogHead = 0;
  }

  private process(input: SessionInput<X>): void {
    if (input.kind !== 'fatal') {
      // Whatever line the client sends after WATCH ends the watch; it is not executed.
      if (this.watch) {
        this.stopWatch();
        this.push(this.protocol.watchEnd, false);
        return;
      }
      if (this.watchPending && !this.watchEndedEarly) {
        this.watchEndedEarly = true;
        return;
      }
    }
    switch (input.kind) {
      case 'command':
        this.execute(input.command, input.context);
        return;
      case 'error':
        this.stats.countError();
        this.push(this.protocol.encodeError(input.message), false);
        return;
      case 'reply':
        if (input.countsAsError) this.stats.countError();
        this.push(input.reply, false);
        return;
      case 'fatal':
        if (input.countsAsError) this.stats.countError();
        this.push(input.reply, true);
        return;
    }
  }

  private execute(command: Command, context: X | undefined): void {
    let result: unknown;
    try {
      result = this.executor.execute(command);
    } catch (err) {
      this.push(this.errorReply(err, context), false);
      return;
    }
    if (!(result instanceof Promise)) {
      if (command.name === 'WATCH') this.beginWatch(undefined, this.encode(command, result, context), result as WatchFeed);
      else this.push(this.encode(command, result, context), false);
      return;
    }
    const slot = this.reserve();
    if (command.name === 'WATCH') {
      // A line the client sends meanwhile ends the watch, as it would once streaming.
      this.watchPending = true;
      result.then(
        (feed: unknown) => this.beginWatch(slot, this.encode(command, feed, context), feed as WatchFeed),
        (err: unknown) => {
          this.watchPending = false;
          this.watchEndedEarly = false;
          this.fill(slot, this.errorReply(err));
        },
      );
      return;
    }
    const carried = payloadBytes(command);
    const isWrite = WRITE_COMMANDS.has(command.name);
    this.pendingResults++;
    this.pendingBytes += carried;
    if (isWrite) this.pendingWrites++;
    result.then(
      (value: unknown) => this.settle(slot, carried, isWrite, this.encode(command, value, context)),
      (err: unknown) => this.settle(slot, carried, isWrite, this.errorReply(err, context)),
    );
  }

  private settle(slot: Slot, carried: number, isWrite: boolean, bytes: ReplyBytes): void {
    this.pendingResults--;
    this.pendingBytes -= carried;
    if (isWrite) this.pendingWrites--;
    this.fill(slot, bytes);
  }

  /** The reply bytes, or an error when the result cannot be framed (e.g. a value holding a line feed). */
  private encode(command: Command, result: unknown, context: X | undefined): ReplyBytes {
    try {
      return this.protocol.encodeReply(command, result, context);
    } catch (err) {
      return this.errorReply(err, context);
    }
  }

  /** The header, then the events; or the header and the end at once when a line already followed it. */
  private beginWatch(slot: Slot | undefined, header: ReplyBytes, feed: WatchFeed): void {
    const endedEarly = this.watchPending && this.watchEndedEarly;
    this.watchPending = false;
    this.watchEndedEarly = false;
    if (endedEarly || this.closing || this.transport.closed) {
      feed.stop();
      this.deliver(slot, [...replyPieces(header), this.protocol.watchEnd]);
      return;
    }
    this.deliver(slot, header);
    this.startWatch(feed);
  }

  /** Commands after WATCH end it, so no later reply can be waiting while events stream. */
  private startWatch(feed: WatchFeed): void {
    this.watch = feed;
    // Nagle stays on for request/reply, but a watcher sends nothing that would carry our ACKs:
    // without this, each event line waits for the delayed-ACK timer.
    this.transport.setNoDelay(true);
    feed.start((event) => {
      if (this.transport.closed || this.closing) return;
      if (this.transport.unsentBytes > this.limits.maxUnsentBytes) {
        // It does not read: an orderly close would wait behind the unread bytes for ever.
        this.stopWatch();
        this.logger.warn('dropped a watcher that reads too slowly');
        this.transport.destroy();
        return;
      }
      let line: Buffer;
      try {
        line = this.protocol.encodeWatchEvent(event);
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
    this.transport.cork();
    queueMicrotask(() => {
      this.corked = false;
      this.transport.uncork();
    });
  }

  private stopWatch(): void {
    if (!this.watch) return;
    this.watch.stop();
    this.watch = undefined;
    if (!this.transport.closed) this.transport.setNoDelay(false);
  }

  private reserve(): Slot {
    const slot: Slot = { bytes: undefined, close: false };
    this.slots.push(slot);
    return slot;
  }

  private deliver(slot: Slot | undefined, bytes: ReplyBytes): void {
    if (slot) this.fill(slot, bytes);
    else this.push(bytes, false);
  }

  private push(bytes: ReplyBytes, close: boolean): void {
    const length = replyLength(bytes);
    this.produced(length);
    if (this.slots.length === 0) {
      this.send(bytes, length, close);
      return;
    }
    this.slots.push({ bytes, close });
    this.heldBytes += length;
  }

  private fill(slot: Slot, bytes: ReplyBytes): void {
    const length = replyLength(bytes);
    this.produced(length);
    slot.bytes = bytes;
    this.heldBytes += length;
    if (this.slots[0] !== slot) return;
    this.transport.cork();
    while (this.slots.length > 0 && this.slots[0]!.bytes !== undefined) {
      const ready = this.slots.shift()!;
      const readyLength = replyLength(ready.bytes!);
      this.heldBytes -= readyLength;
      this.send(ready.bytes!, readyLength, ready.close);
    }
    this.transport.uncork();
    if (this.slots.length === 0 && this.closing) this.transport.end();
    this.pump();
  }

  private send(bytes: ReplyBytes, length: number, close: boolean): void {
    if (this.transport.closed) return;
    if (length > 0) {
      if (bytes instanceof Uint8Array) this.transport.write(bytes);
      else for (const piece of bytes) if (piece.length > 0) this.transport.write(piece);
    }
    if (!close) return;
    this.closing = true;
    this.slots.length = 0;
    this.heldBytes = 0;
    this.dropBacklog();
    this.transport.end();
  }

  private errorReply(err: unknown, context?: X): Buffer {
    this.stats.countError();
    if (isKvError(err)) return this.protocol.encodeError(err.message, err.code, context);
    this.logger.error('command failed unexpectedly', { error: err });
    return this.protocol.encodeError(`internal error: ${err instanceof Error ? err.message : String(err)}`, undefined, context);
  }
}

/** The bytes a command holds until its result settles: the values it writes. */
function payloadBytes(command: Command): number {
  switch (command.name) {
    case 'SET':
    case 'APPEND':
    case 'PREPEND':
    case 'STORE':
      return command.value.length;
    case 'MSET':
      return command.pairs.reduce((sum, [, value]) => sum + value.length, 0);
    case 'AE':
      return command.message.length;
    default:
      return 0;
  }
}
