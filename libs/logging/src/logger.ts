import { closeSync, openSync, writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Readonly<Record<string, unknown>>;

/**
 * Structured logs: one JSON object per line, to stderr or to a file, never to stdout (a parent
 * that does not drain our stdout must not be able to block us). Lines are written synchronously
 * so the last words before an exit are never lost; at the default level a node writes a handful
 * of lines in its life, so the synchronous write costs nothing on the request path.
 */
export class Logger {
  private constructor(
    private readonly sink: LogSink,
    private readonly threshold: number,
    private readonly context: LogFields,
    private readonly ambient: (() => LogFields | undefined) | undefined,
  ) {}

  /**
   * `ambient` adds fields that depend on where a line is written from, read at each line: the
   * active trace's ids, for instance (this library knows nothing of tracing).
   */
  static create(options: { level: LogLevel; file?: string; base?: LogFields; ambient?: () => LogFields | undefined }): Logger {
    const sink = options.file ? LogSink.toFile(options.file) : LogSink.stderr();
    return new Logger(sink, RANK[options.level], options.base ?? {}, options.ambient);
  }

  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger {
    return new Logger(this.sink, this.threshold, { ...this.context, ...fields }, this.ambient);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.threshold;
  }

  debug(msg: string, fields?: LogFields): void {
    this.write('debug', msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write('info', msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write('warn', msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write('error', msg, fields);
  }

  close(): void {
    this.sink.close();
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    if (RANK[level] < this.threshold) return;
    const line = { time: new Date().toISOString(), level, msg, ...this.context, ...this.ambient?.(), ...fields };
    this.sink.write(JSON.stringify(line, replacer) + '\n');
  }
}

class LogSink {
  private constructor(
    private fd: number,
    private readonly owned: boolean,
  ) {}

  static stderr(): LogSink {
    return new LogSink(2, false);
  }

  static toFile(path: string): LogSink {
    return new LogSink(openSync(path, 'a'), true);
  }

  write(text: string): void {
    if (this.fd < 0) return;
    try {
      writeSync(this.fd, text);
    } catch {
      // A closed or broken log destination must not take the node down with it.
    }
  }

  close(): void {
    if (this.owned && this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
  return value;
}
