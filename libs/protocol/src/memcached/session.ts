/**
 * memcached for a {@link ProtocolSession}: the decoder's events become session inputs (a command
 * carrying its request, to frame the reply; a reply the protocol frames itself; a close), and
 * results and errors are framed for the request's wire form. {@link MemcachedDispatch.dispatch} is
 * the one place every decoded request passes through on its way to the command layer.
 */
import { type Command, type CommandPort, isKvError, type KvErrorCode } from '#commands';

import { type ReplyBytes } from '../session/reply-bytes.js';
import { type SessionInput, type SessionProtocol } from '../session/session.js';
import { type Credentials, plainCredentials, SASL_MECHANISMS, SignIn, textCredentials } from './auth.js';
import { binaryResponse, STATUS } from './binary.js';
import { commandsOf, failureOf, type MemcachedCounters, outcomeOf, type StatsFigures } from './commands.js';
import { MemcachedDecoder, type MemcachedEvent } from './decoder.js';
import { encodeFailure, encodeOutcome } from './reply.js';
import { type Framing, type MemcachedFailure, type MemcachedRequest } from './request.js';

export interface MemcachedProtocolDeps {
  readonly maxValueBytes: number;
  readonly counters: MemcachedCounters;
  readonly version: string;
  readonly pid: number;
  /** Milliseconds since the epoch (default: the system clock): exptimes become absolute expiries by it. */
  readonly now?: () => number;
  /**
   * The node has users: clients sign in, as memcached's ASCII auth (text) and SASL PLAIN (binary)
   * do, before anything else (see auth.ts). False: no sign-in, and SASL is an unknown command.
   */
  readonly signInRequired?: boolean;
  /**
   * `flush_all <delay>`: remove every key `delaySeconds` from now, on the connection's `port` (a
   * later flush replaces an earlier one that has not run); throws a KvError when the connection
   * may not flush. A flush without delay runs as a command.
   */
  scheduleFlush(delaySeconds: number, port: CommandPort): void;
}

type Input = SessionInput<MemcachedRequest>;

const CLOSE: Input = { kind: 'fatal', reply: Buffer.alloc(0), countsAsError: false };
const reply = (bytes: ReplyBytes, countsAsError = false): Input => ({ kind: 'reply', reply: bytes, countsAsError });
const TEXT: Framing = { wire: 'text', noreply: false };
const UNAUTHENTICATED: MemcachedFailure = { kind: 'unauthenticated' };
const AUTH_FAILED: MemcachedFailure = { kind: 'auth-failed' };

/**
 * Maps one connection's decoded events to session inputs, in order: every request passes here on
 * its way to the command layer (the place for a per-connection check such as authentication).
 */
export class MemcachedDispatch {
  private readonly now: () => number;
  /** Undefined when the node has no users. */
  private readonly signIn: SignIn | undefined;

  constructor(
    private readonly deps: MemcachedProtocolDeps,
    /** The connection's own port (its guard): what a delayed flush runs on. */
    private readonly port: CommandPort,
  ) {
    this.now = deps.now ?? Date.now;
    this.signIn = deps.signInRequired === true ? new SignIn() : undefined;
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
        if (this.signIn?.state === 'out') this.beforeSignIn(event.request, accept);
        else this.request(event.request, accept);
        return;
    }
  }

  /**
   * Before sign-in, as memcached does: a classic `set` carries the credentials (and is answered
   * even with noreply), binary SASL and VERSION run; any other text command is refused, and any
   * other binary one too, then the connection closes. Requests that follow a sign-in not
   * answered yet go on as signed in: the guard holds their commands until it settles (and
   * refuses them if it failed), but a delayed flush_all is checked as it arrives, so refused.
   */
  private beforeSignIn(request: MemcachedRequest, accept: (input: Input) => void): void {
    const { framing } = request;
    if (framing.wire === 'binary') {
      if (request.op === 'sasl' || request.op === 'version') this.request(request, accept);
      else accept({ kind: 'fatal', reply: encodeFailure(framing, UNAUTHENTICATED), countsAsError: true });
      return;
    }
    if (request.op !== 'store' || request.mode !== 'set' || framing.wire !== 'text') {
      accept(reply(encodeFailure(TEXT, UNAUTHENTICATED), true));
      return;
    }
    const credentials = textCredentials(request.value);
    if (credentials === undefined) accept(reply(encodeFailure(TEXT, { kind: 'client', message: 'bad authentication token format' }), true));
    else this.signInAs(credentials, TEXT, accept);
  }

  /** An AUTH on the connection's guard, answered in the request's wire form. */
  private signInAs(credentials: Credentials, framing: Framing, accept: (input: Input) => void): void {
    const signIn = this.signIn!;
    signIn.begin();
    accept({ kind: 'command', command: { name: 'AUTH', ...credentials }, context: { op: 'auth', signIn, framing } });
  }

  /** SASL, PLAIN only: a start without a message gets an empty challenge, and the next step carries it. */
  private sasl(request: Extract<MemcachedRequest, { op: 'sasl' }>, accept: (input: Input) => void): void {
    const { framing } = request;
    if (this.signIn === undefined) {
      // As memcached without SASL; memjs then goes on unauthenticated.
      accept(reply(encodeFailure(framing, { kind: 'unknown' }), true));
      return;
    }
    if (request.step === 'list') {
      accept(reply(encodeOutcome(request, { op: 'mechanisms', names: SASL_MECHANISMS })));
      return;
    }
    if (request.mechanism !== SASL_MECHANISMS) {
      accept(reply(encodeFailure(framing, AUTH_FAILED), true));
      return;
    }
    if (request.step === 'start' && request.message.length === 0) {
      accept(reply(encodeOutcome(request, { op: 'sasl-continue' })));
      return;
    }
    const credentials = plainCredentials(request.message);
    if (credentials === undefined) accept(reply(encodeFailure(framing, AUTH_FAILED), true));
    else this.signInAs(credentials, framing, accept);
  }

  private request(request: MemcachedRequest, accept: (input: Input) => void): void {
    switch (request.op) {
      case 'sasl':
        this.sasl(request, accept);
        return;
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
          try {
            this.deps.scheduleFlush(request.delay, this.port);
          } catch (err) {
            accept(this.refusal(request.framing, err));
            return;
          }
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
      accept(this.refusal(request.framing, err));
      return;
    }
    for (const { command, request: part } of commands) accept({ kind: 'command', command, context: part });
  }

  private refusal(framing: Framing, err: unknown): Input {
    return reply(encodeFailure(framing, failureOf(isKvError(err) ? err.code : undefined, err instanceof Error ? err.message : String(err))), true);
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
    createDecoder: (accept, port) => {
      const dispatch = new MemcachedDispatch(deps, port);
      return new MemcachedDecoder((event) => dispatch.dispatch(event, accept), { maxValueBytes: deps.maxValueBytes });
    },
    encodeReply: (command: Command, result: unknown, request: MemcachedRequest | undefined) => {
      if (request!.op === 'auth') request!.signIn.settled(true);
      return encodeOutcome(request!, outcomeOf(request!, command, result, figures));
    },
    encodeError: (message: string, code?: KvErrorCode, request?: MemcachedRequest) => {
      if (request?.op === 'auth') request.signIn.settled(false);
      return encodeFailure(request?.framing ?? TEXT, failureOf(code, message, request?.op === 'auth'));
    },
    encodeWatchEvent: () => {
      throw new Error('memcached has no watches');
    },
    watchEnd: Buffer.alloc(0),
  };
}
