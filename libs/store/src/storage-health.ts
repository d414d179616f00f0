import { type PersistOp, type StorageEngine } from './engine.js';
import { describeCause, StoreError } from './errors.js';
import { META_CLOCK } from './metadata.js';

export type StorageFaultEvent =
  | { readonly kind: 'failed'; readonly error: StoreError }
  | { readonly kind: 'resumed'; readonly downMs: number }
  | { readonly kind: 'restart-required'; readonly error: StoreError };

/** Whether the store takes writes; when not, since when, why, and what it waits for. */
export type StorageState =
  | { readonly state: 'ok' }
  | {
      readonly state: 'failed';
      readonly since: number;
      readonly error: string;
      /** Why a reopen would fail yet (the disk still full...), when known. */
      readonly waitingFor?: string;
      /** A failed write may have reached the disk after all: only a restart reloads the store from it. */
      readonly restartRequired: boolean;
    };

interface StorageFault {
  readonly since: number;
  readonly error: StoreError;
  waitingFor?: string;
  restartRequired: boolean;
}

export interface StorageHealthOptions {
  /** How often, while writes fail, to check whether they can resume. */
  readonly retryMs: number;
  readonly onEvent?: ((event: StorageFaultEvent) => void) | undefined;
  /** The clock record of the last batch known to be stored. */
  readonly storedClock: () => Uint8Array | undefined;
  /** Resolves once no batch is being written (a reopen must not run under one). */
  readonly idle: () => Promise<void>;
  /** Writes can go again: what waited for them (a checkpoint, the trees) may start. */
  readonly onResumed: () => void;
}

/** The metadata record a probe write deletes: it never exists, so the probe changes nothing. */
const PROBE_OP: PersistOp = { type: 'meta-del', name: 'probe' };

/**
 * Whether the store's engine takes writes, and the way back when it stops.
 *
 * RocksDB refuses every write after one fails (a full disk, no file descriptors) until it is
 * reopened. Rather than fail write after write, the store refuses mutations at once while
 * {@link failure} is set, its owner hears of it once, and every `retryMs` this unit tries a
 * probe write (the engine may have recovered by itself), then, when the engine says a reopen
 * can succeed (space, descriptors), reopens it. A reopened engine whose clock record differs
 * from the last batch known to be stored holds a batch that was reported as failed: the open
 * path alone rebuilds the state that goes with it, so writes wait for a restart.
 */
export class StorageHealth {
  #fault: StorageFault | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    private readonly engine: StorageEngine,
    private readonly options: StorageHealthOptions,
  ) {}

  /** How long work that met a storage failure waits before it tries again. */
  get retryMs(): number {
    return this.options.retryMs;
  }

  /** The error a refused mutation gets while writes fail; undefined while they work. */
  get failure(): StoreError | undefined {
    const fault = this.#fault;
    if (!fault) return undefined;
    const when = new Date(fault.since).toISOString();
    const then = fault.restartRequired ? 'restart the node' : 'writes resume by themselves once the cause is gone';
    return new StoreError('STORAGE', `storage unavailable since ${when} (${fault.error.message}); ${then}`, { cause: fault.error });
  }

  get state(): StorageState {
    const fault = this.#fault;
    if (!fault) return { state: 'ok' };
    return {
      state: 'failed',
      since: fault.since,
      error: fault.error.message,
      ...(fault.waitingFor === undefined ? {} : { waitingFor: fault.waitingFor }),
      restartRequired: fault.restartRequired,
    };
  }

  /** A read or write of the engine failed: refuse writes from now on and start looking for a way back. */
  failed(error: StoreError): void {
    if (this.#fault || this.#closed) return;
    this.#fault = { since: Date.now(), error, restartRequired: false };
    this.options.onEvent?.({ kind: 'failed', error });
    this.#schedule();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#recover();
    }, this.options.retryMs).unref();
  }

  async #recover(): Promise<void> {
    const fault = this.#fault;
    if (!fault || fault.restartRequired || this.#closed) return;
    if (await this.#probe()) return this.#resumed(fault);
    const blocker = this.engine.recoveryBlocker();
    if (blocker !== undefined) {
      fault.waitingFor = blocker;
      return this.#schedule();
    }
    await this.options.idle();
    try {
      await this.engine.recover();
    } catch (err) {
      fault.waitingFor = `reopening the storage failed: ${describeCause(err)}`;
      return this.#schedule();
    }
    if (this.#closed) return;
    if (!sameBytes(this.engine.getMeta(META_CLOCK), this.options.storedClock())) {
      // Nothing is lost: the batch is on disk, and a restart loads it with everything else.
      fault.restartRequired = true;
      this.options.onEvent?.({ kind: 'restart-required', error: this.failure! });
      return;
    }
    if (await this.#probe()) return this.#resumed(fault);
    fault.waitingFor = 'writes still fail after reopening the storage';
    this.#schedule();
  }

  async #probe(): Promise<boolean> {
    try {
      await this.engine.write([PROBE_OP], false);
      return true;
    } catch {
      return false;
    }
  }

  #resumed(fault: StorageFault): void {
    if (this.#fault !== fault) return;
    this.#fault = undefined;
    this.options.onEvent?.({ kind: 'resumed', downMs: Date.now() - fault.since });
    this.options.onResumed();
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === undefined || b === undefined ? a === b : Buffer.from(a).equals(b);
}
