import { ReplicationError } from './errors.js';

/** What the library logs through: the node's Logger (#logging) fits, and so does a test spy. */
export interface ReplicationLogger {
  warn(msg: string, fields?: Readonly<Record<string, unknown>>): void;
}

export const silentLogger: ReplicationLogger = { warn: () => undefined };

export interface BackoffOptions {
  /** First delay (default 100 ms). */
  readonly initialMs?: number;
  /** Largest delay (default 5 s). */
  readonly maxMs?: number;
  /** Growth per consecutive failure (default 2). */
  readonly factor?: number;
  /** In [0, 1); default Math.random (tests draw their own). */
  readonly random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": each delay is drawn from [d/2, d] where d doubles
 * per consecutive failure up to the cap, so nodes that lost NATS together do not retry in
 * lockstep, and a delay never collapses to zero.
 */
export class Backoff {
  readonly #initial: number;
  readonly #max: number;
  readonly #factor: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initial = options.initialMs ?? 100;
    this.#max = options.maxMs ?? 5_000;
    this.#factor = options.factor ?? 2;
    this.#random = options.random ?? Math.random;
    if (!(this.#initial > 0) || !(this.#max >= this.#initial) || !(this.#factor >= 1)) {
      throw new ReplicationError('BAD_OPTIONS', `backoff needs 0 < initialMs <= maxMs and factor >= 1, got ${JSON.stringify(options)}`);
    }
  }

  next(): number {
    const d = Math.min(this.#max, this.#initial * this.#factor ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 64);
    return d / 2 + (this.#random() * d) / 2;
  }

  reset(): void {
    this.#attempt = 0;
  }
}

/** A sleep that `cancel()` ends early (resolving, not rejecting). */
export class Sleeper {
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    this.cancel();
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => this.cancel(), ms);
    });
  }

  cancel(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

/** Resolves once `done()` holds, re-checking whenever `signal` fires, or at the deadline; returns done(). */
export function waitUntil(done: () => boolean, subscribe: (wake: () => void) => () => void, timeoutMs: number): Promise<boolean> {
  if (done()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const finish = (): void => {
      clearTimeout(timer);
      unsubscribe();
      resolve(done());
    };
    const timer = setTimeout(finish, timeoutMs);
    const unsubscribe = subscribe(() => {
      if (done()) finish();
    });
  });
}

export function positiveInt(what: string, v: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!Number.isSafeInteger(v) || v <= 0 || v > max) throw new ReplicationError('BAD_OPTIONS', `${what} must be a positive integer (at most ${max}), got ${v}`);
  return v;
}

/**
 * The observer with every hook wrapped so that a throwing metrics hook is logged instead of
 * breaking the loop that called it.
 */
export function safeObserver<T extends object>(observer: T | undefined, logger: ReplicationLogger): T {
  const safe: Record<string, unknown> = {};
  for (const [name, hook] of Object.entries(observer ?? {})) {
    if (typeof hook !== 'function') continue;
    safe[name] = (...args: unknown[]): void => {
      try {
        (hook as (...a: unknown[]) => unknown).apply(observer, args);
      } catch (err) {
        logger.warn('replication: an observer hook threw', { hook: name, error: err instanceof Error ? err.message : String(err) });
      }
    };
  }
  return safe as T;
}
