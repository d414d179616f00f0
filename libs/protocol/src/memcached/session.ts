/**
 * memcached for a {@link ProtocolSession}: the decoder's events become session inputs (a command
 * carrying its request, to frame the reply; a reply the protocol frames itself; a close), and
 * results and errors are framed for the request's wire form. {@link MemcachedDispatch.input} is
 * the one place every decoded request passes through on its way to the command layer.
 */
import { type Command, type KvErrorCode } from '#commands';

import { type SessionInput, type SessionProtocol } from '../session/session.js';
import { binaryResponse, STATUS } from './binary.js';
import { commandOf, failureOf, type MemcachedCounters, outcomeOf, type StatsFigures, Unsupported } from './commands.js';
import { MemcachedDecoder, type MemcachedEvent } from './decoder.js';
import { encodeFailure, encodeOutcome } from './reply.js';
import { type MemcachedRequest } from './request.js';

export interface MemcachedProtocolDeps {
  readonly maxValueBytes: number;
  readonly counters: MemcachedCounters;
  readonly version: string;
  readonly pid: number;
  /** Seconds since the epoch (default: the system clock). */
  readonly now?: () => number;
  /**
   * `flush_all <delay>`: remove every key `delaySeconds` from now (a later flush replaces an
   * earlier one that has not run). A flush without delay runs as a command.
   */
  scheduleFlush(delaySeconds: number): void;
}

const CLOSE: SessionInput<MemcachedRequest> = { kind: 'fatal', reply: Buffer.alloc(0), countsAsError: false };

/** Maps one connection's decoded events to session inputs. */
export class MemcachedDispatch {
  constructor(private readonly deps: MemcachedProtocolDeps) {}

  input(event: MemcachedEvent): SessionInput<MemcachedRequest> {
    switch (event.kind) {
      case 'close':
        return CLOSE;
      case 'failure': {
        const reply = encodeFailure(event.framing, event.failure);
        return event.close ? { kind: 'fatal', reply, countsAsError: true } : { kind: 'reply', reply, countsAsError: true };
      }
      case 'request':
        return this.request(event.request);
    }
  }

  private request(request: MemcachedRequest): SessionInput<MemcachedRequest> {
    switch (request.op) {
      case 'noop':
        return { kind: 'reply', reply: encodeOutcome(request, { op: 'noop' }), countsAsError: false };
      case 'quit': {
        const { framing } = request;
        // A binary QUIT is answered before the close; QUITQ and the text quit are not.
        const reply = framing.wire === 'binary' && !framing.quiet ? binaryResponse(framing, STATUS.ok) : Buffer.alloc(0);
        return { kind: 'fatal', reply, countsAsError: false };
      }
      case 'flush':
        if (request.delay > 0) {
          this.deps.scheduleFlush(request.delay);
          this.deps.counters.cmdFlush++;
          return { kind: 'reply', reply: encodeOutcome(request, { op: 'flush' }), countsAsError: false };
        }
        break;
      default:
        break;
    }
    const command = commandOf(request);
    if (command instanceof Unsupported) return { kind: 'reply', reply: encodeFailure(request.framing, command.failure), countsAsError: true };
    return { kind: 'command', command, context: request };
  }
}

/** The memcached protocols (text, meta, binary) for the sessions of one listener. */
export function memcachedSessionProtocol(deps: MemcachedProtocolDeps): SessionProtocol<MemcachedRequest> {
  const figures: StatsFigures = {
    counters: deps.counters,
    pid: deps.pid,
    version: deps.version,
    maxValueBytes: deps.maxValueBytes,
    now: deps.now ?? (() => Math.floor(Date.now() / 1000)),
  };
  return {
    createDecoder: (accept) => {
      const dispatch = new MemcachedDispatch(deps);
      return new MemcachedDecoder((event) => accept(dispatch.input(event)), { maxValueBytes: deps.maxValueBytes });
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
