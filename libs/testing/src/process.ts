import { spawn, type ChildProcess } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { HarnessError } from './errors.js';
import { LineSplitter, LogBuffer } from './log-buffer.js';

/** How a process ended. `status` folds both into one number, the way a shell does. */
export interface ProcessExit {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process, if any. */
  readonly signal: NodeJS.Signals | null;
  /** `code`, or 128 + the signal number (SIGKILL → 137), or 127 when it never started. */
  readonly status: number;
  /** Set when the process could not be started at all. */
  readonly error?: Error;
}

export type OutputStream = 'stdout' | 'stderr';

export interface SpawnOptions {
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** The full environment of the child (not merged here). */
  readonly env?: NodeJS.ProcessEnv;
  /** How many output lines to keep for failure messages. */
  readonly logLines?: number;
  /** Used in error messages: "nats-server exited before ready". */
  readonly label?: string;
}

export interface WaitForLineOptions {
  /** Deadline in milliseconds. */
  readonly timeoutMs: number;
  /** What the caller waits for, for the error message ("the ready line"). */
  readonly what: string;
  /** Also look at the lines already kept in the log buffer. */
  readonly includePast?: boolean;
}

const live = new Set<ManagedProcess>();
let exitHookInstalled = false;

/**
 * Last resort when the test runner exits with children still running (a test that forgot to
 * dispose, a crash): SIGKILL them so that no server outlives the run.
 */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const p of live) p.signal('SIGKILL');
  });
}

const statusOf = (code: number | null, signal: NodeJS.Signals | null): number =>
  code ?? (signal === null ? 1 : 128 + (osConstants.signals[signal] ?? 0));

/**
 * A child process whose output is drained into a bounded log and cut into lines that callers
 * can wait for. The child never blocks on a full pipe, however much it prints.
 */
export class ManagedProcess {
  readonly label: string;
  readonly exited: Promise<ProcessExit>;
  readonly #child: ChildProcess;
  readonly #log: LogBuffer;
  readonly #listeners = new Set<(line: string, stream: OutputStream) => void>();
  #exit: ProcessExit | undefined;

  private constructor(command: string, options: SpawnOptions) {
    this.label = options.label ?? command;
    this.#log = new LogBuffer(options.logLines ?? 200);
    this.#child = spawn(command, [...(options.args ?? [])], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#attach('stdout');
    this.#attach('stderr');
    this.exited = new Promise<ProcessExit>((resolve) => {
      let spawnError: Error | undefined;
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#exit !== undefined) return;
        this.#exit =
          spawnError !== undefined && this.#child.pid === undefined
            ? { code, signal, status: 127, error: spawnError }
            : { code, signal, status: statusOf(code, signal) };
        live.delete(this);
        resolve(this.#exit);
      };
      this.#child.once('error', (err) => {
        spawnError = err;
        // A failed spawn emits 'error' and may never emit 'close' for the process itself.
        if (this.#child.pid === undefined) finish(null, null);
      });
      // 'close' rather than 'exit': the pipes are drained, so the log holds the last words.
      this.#child.once('close', (code, signal) => finish(code, signal));
    });
    live.add(this);
    installExitHook();
  }

  /** Starts `command`. Never throws: a failed spawn shows up as an exit with `error` set. */
  static spawn(command: string, options: SpawnOptions = {}): ManagedProcess {
    return new ManagedProcess(command, options);
  }

  /** The pid, or -1 when the process could not be started. */
  get pid(): number {
    return this.#child.pid ?? -1;
  }

  /** How the process ended, once it has. */
  get exit(): ProcessExit | undefined {
    return this.#exit;
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** The last lines of stdout and stderr, interleaved as they arrived. */
  logs(): string {
    return this.#log.text();
  }

  /** Calls `listener` for every later output line; returns the unsubscribe function. */
  onLine(listener: (line: string, stream: OutputStream) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Resolves with the first non-undefined `match(line)`; rejects with the log tail when the
   * process exits first or the deadline passes.
   */
  waitForLine<T>(match: (line: string, stream: OutputStream) => T | undefined, options: WaitForLineOptions): Promise<T> {
    if (options.includePast === true) {
      for (const line of this.#log.lines()) {
        const found = match(line, 'stderr');
        if (found !== undefined) return Promise.resolve(found);
      }
    }
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const done = (): void => {
        settled = true;
        unsubscribe();
        clearTimeout(timer);
      };
      const unsubscribe = this.onLine((line, stream) => {
        if (settled) return;
        let found: T | undefined;
        try {
          found = match(line, stream);
        } catch (err) {
          done();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (found === undefined) return;
        done();
        resolve(found);
      });
      const timer = setTimeout(() => {
        if (settled) return;
        done();
        reject(
          new HarnessError('READY_TIMEOUT', `${this.label} (pid ${this.pid}): no ${options.what} within ${options.timeoutMs} ms`, {
            logs: this.logs(),
          }),
        );
      }, options.timeoutMs);
      void this.exited.then((exit) => {
        if (settled) return;
        done();
        reject(this.#exitError(exit, options.what));
      });
    });
  }

  /** Sends a signal if the process still runs; returns whether it was sent. */
  signal(signal: NodeJS.Signals): boolean {
    if (this.#exit !== undefined || this.#child.pid === undefined) return false;
    try {
      return this.#child.kill(signal);
    } catch {
      return false;
    }
  }

  /**
   * Sends `signal`, waits up to `graceMs` for the process to exit, then SIGKILLs it.
   * Resolves with the exit status (see `ProcessExit.status`).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<number> {
    if (this.#exit !== undefined) return this.#exit.status;
    this.signal(signal);
    if (signal !== 'SIGKILL') {
      let timer: NodeJS.Timeout | undefined;
      const overdue = new Promise<'overdue'>((resolve) => {
        timer = setTimeout(() => resolve('overdue'), graceMs);
      });
      const first = await Promise.race([this.exited, overdue]);
      clearTimeout(timer);
      if (first === 'overdue') this.signal('SIGKILL');
    }
    return (await this.exited).status;
  }

  /** SIGKILL, no grace. Resolves with the exit status (137). */
  kill(): Promise<number> {
    return this.stop('SIGKILL');
  }

  #exitError(exit: ProcessExit, what: string): HarnessError {
    if (exit.error !== undefined) {
      return new HarnessError('SPAWN_FAILED', `${this.label} could not be started: ${exit.error.message}`, {
        cause: exit.error,
        logs: this.logs(),
      });
    }
    const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
    return new HarnessError('EXITED_EARLY', `${this.label} (pid ${this.pid}) exited with ${how} before ${what}`, {
      logs: this.logs(),
    });
  }

  #attach(stream: OutputStream): void {
    const source = this.#child[stream];
    if (source === null) return;
    const splitter = new LineSplitter((line) => {
      this.#log.push(line);
      for (const listener of this.#listeners) listener(line, stream);
    });
    source.on('data', (chunk: Buffer) => splitter.push(chunk));
    source.once('end', () => splitter.end());
    // A read error on our end of the pipe must not crash the test run.
    source.on('error', () => undefined);
  }
}

/** Whether a process with this pid exists: for tests that check nothing was left running. */
export function isProcessAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
