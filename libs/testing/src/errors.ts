/**
 * The harness fails loudly and with context: every error says what it was waiting for and,
 * when a process is involved, carries the tail of that process's output, because a test that
 * reads "timed out" without the server's last words costs an afternoon.
 */
export type HarnessErrorCode =
  /** The executable could not be started (not on PATH, not executable). */
  | 'SPAWN_FAILED'
  /** The process exited before it said it was ready. */
  | 'EXITED_EARLY'
  /** The process did not become ready before the deadline. */
  | 'READY_TIMEOUT'
  /** The process printed a ready line the harness could not understand. */
  | 'BAD_READY_LINE'
  /** A TCP connection could not be opened. */
  | 'CONNECT_FAILED'
  /** A read on a TextClient did not complete before its deadline. */
  | 'READ_TIMEOUT'
  /** The peer closed the connection while a read was pending. */
  | 'CONNECTION_CLOSED';

export class HarnessError extends Error {
  override readonly name = 'HarnessError';
  /** The tail of the process's output, when the failure concerns a process. */
  readonly logs: string | undefined;

  constructor(
    readonly code: HarnessErrorCode,
    message: string,
    options?: { cause?: unknown; logs?: string },
  ) {
    const logs = options?.logs;
    super(logs === undefined ? message : `${message}\n--- last output lines ---\n${logs || '(no output)'}`, {
      cause: options?.cause,
    });
    this.logs = logs;
  }
}

export const isHarnessError = (err: unknown): err is HarnessError => err instanceof HarnessError;
