/**
 * memcached for a {@link ProtocolSession}: the decoder's events become session inputs (a command
 * carrying its request, to frame the reply; a reply the protocol frames itself; a close), and
 * results and errors are framed for the request's wire form. {@link MemcachedDispatch.dispatch} is
 * the one place every decoded request passes through on its way to the command layer.
 */
import { type Command, isKvError, type KvErrorCode } from '#commands';

import { type SessionInput, type SessionProtocol } from '../session/session.js';
import { binaryResponse, STATUS } from './binary.js';
import { commandsOf, failureOf, type MemcachedCounters, outcomeOf, type StatsFigures } from './commands.js';
import { MemcachedDecoder, type MemcachedEvent } from './decoder.js';
import { encodeFailure, encodeOutcome } from './reply.js';
import { type MemcachedRequest } from './request.js';

export interface MemcachedProtocolDeps {
  readonly maxValueBytes: number;
  readonly counters: MemcachedCounters;
  readonly version: string;
  readonly pid: number;
  /** Milliseconds since the epoch (default: the system clock): exptimes become absolute expiries by it. */
  readonly now?: () => number;
  /**
   * `flush_all <delay>`: remove every key `delaySeconds` from now (a later flush replaces an
   * earlier one that has not run). A flush without delay runs as a command.
   */
  scheduleFlush(delaySeconds: number): void;
}

type Input = SessionInput<MemcachedRequest>;

const CLOSE: Input = { kind: 'fatal', reply: Buffer.alloc(0), countsAsError: false };
const reply = (bytes: Buffer, countsAsError = false): Input => ({ kind: 'reply', reply: bytes, countsAsError });

/**
 * Maps one connection's decoded events to session inputs, in order: every request passes here on
 * its way to the command layer (the place for a per-connection check such as authentication).
 */
export class MemcachedDispatch {
  private readonly now: () => number;

  constructor(private readonly deps: MemcachedProtocolDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Hands `accept` the inputs of one event: most requests are one command, a gat of several keys one per key and its END. */
  dispatch(event: MemcachedEvent, accept: (input: Input) => void): void {
    switch (event.kind) {
      case 'close':
        accept(CLOSE);
        return;
      case 'failure': {
        const bytes = encodeFailure(event.framing, event.failure);
        accept(event.close ? { kind: 'fatal', reply: bytes, countsAsError: true } : reply(bytes, true));
        return;
      }
      case 'request':
        this.request(event.request, accept);
        return;
    }
  }

  private request(request: MemcachedRequest, accept: (input: Input) => void): void {
    switch (request.op) {
      case 'noop':
        accept(reply(encodeOutcome(request, { op: 'noop' })));
        return;
      case 'quit': {
        const { framing } = request;
        // A binary QUIT is answered before the close; QUITQ and the text quit are not.
        const bytes = framing.wire === 'binary' && !framing.quiet ? binaryResponse(framing, STATUS.ok) : Buffer.alloc(0);
        accept({ kind: 'fatal', reply: bytes, countsAsError: false });
        return;
      }
      case 'flush':
        if (request.delay > 0) {
          this.deps.scheduleFlush(request.delay);
          this.deps.counters.cmdFlush++;
          accept(reply(encodeOutcome(request, { op: 'flush' })));
          return;
        }
        break;
      default:
        break;
    }
    let commands;
    try {
      commands = commandsOf(request, this.now());
    } catch (err) {
      accept(reply(encodeFailure(request.framing, failureOf(isKvError(err) ? err.code : undefined, err instanceof Error ? err.message : String(err))), true));
      return;
    }
    for (const { command, request: part } of commands) accept({ kind: 'command', command, context: part });
  }
}

/** The memcached protocols (text, meta, binary) for the sessions of one listener. */
export function memcachedSessionProtocol(deps: MemcachedProtocolDeps): SessionProtocol<MemcachedRequest> {
  const figures: StatsFigures = {
    counters: deps.counters,
    pid: deps.pid,
    version: deps.version,
    maxValueBytes: deps.maxValueBytes,
    nowMs: deps.now ?? Date.now,
  };
  return {
    createDecoder: (accept) => {
      const dispatch = new MemcachedDispatch(deps);
      return new MemcachedDecoder((event) => dispatch.dispatch(event, accept), { maxValueBytes: deps.maxValueBytes });
    },
    encodeReply: (command: Command, result: unknown, request: MemcachedRequest | undefined) => encodeOutcome(request!, outcomeOf(request!, command, result, figures)),
    encodeError: (message: string, code?: KvErrorCode, request?: MemcachedRequest) =>
      encodeFailure(request?.framing ?? { wire: 'text', noreply: false }, failureOf(code, message)),
    encodeWatchEvent: () => {
      throw new Error('memcached has no watches');
    },
    watchEnd: Buffer.alloc(0),
  };
}
