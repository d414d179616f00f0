/**
 * Stable codes of the config layer. The node maps every one of them to the same outcome (print
 * the message on one line, exit 2); the code exists so that tests and tools need not parse text.
 * - `INVALID_VALUE`: a setting has the wrong type or is out of range.
 * - `UNKNOWN_FLAG`: a command-line flag this node does not define.
 * - `MISSING_VALUE`: a flag that needs a value was given none.
 * - `UNEXPECTED_ARGUMENT`: a bare word on the command line (the node takes no positional arguments).
 * - `UNREADABLE_FILE`: the config file named by `--config` / `MERKLEKV_CONFIG` could not be read.
 * - `SYNTAX`: the config file is not valid TOML.
 * - `PROTECTED_MODE`: a non-loopback host with no users and without `insecure`.
 */
export type ConfigErrorCode =
  | 'INVALID_VALUE'
  | 'UNKNOWN_FLAG'
  | 'MISSING_VALUE'
  | 'UNEXPECTED_ARGUMENT'
  | 'UNREADABLE_FILE'
  | 'SYNTAX'
  | 'PROTECTED_MODE';

/**
 * Anything wrong with the configuration. `message` is one line, ready to print as is:
 * `invalid config: port: must be an integer 0-65535, got "abc" (from --port)`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly code: ConfigErrorCode,
    /** The setting to fix, as its config-file key (`port`, `log.level`), or the flag or `config`. */
    readonly key: string,
    /** Where the bad value came from: `--port`, `MERKLEKV_PORT`, `port in /etc/merklekv.toml`. */
    readonly origin: string,
    /** What is wrong, without the key and origin: `must be an integer 0-65535, got "abc"`. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(oneLine(`invalid config: ${key}: ${reason} (from ${origin})`), options);
  }
}

/**
 * The text with line breaks and other control characters escaped (`\n`, `\u001b`): keys and
 * origins echo what was typed, and the message must stay one printable line.
 */
function oneLine(text: string): string {
  // eslint-disable-next-line no-control-regex -- control characters are what it escapes
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f\u0085\u2028\u2029]/g, (c) =>
    c === '\n' ? '\\n' : c === '\r' ? '\\r' : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export const isConfigError = (err: unknown): err is ConfigError => err instanceof ConfigError;
