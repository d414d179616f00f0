import { ConfigError } from './errors.js';
import { CONFIG_FLAG, SETTINGS, type Setting } from './settings.js';
import { isBooleanWord } from './values.js';

/** One flag as given, not yet parsed: the loader parses it so that errors name the flag. */
export interface FlagValue {
  readonly setting: Setting<unknown>;
  /** The flag as typed (`--storage-path`), for error messages and `sources`. */
  readonly flag: string;
  readonly raw: string;
}

export interface ParsedFlags {
  /** `--help` or `-h` was given. */
  readonly help: boolean;
  /** `--config <path>`, unresolved. */
  readonly config?: string;
  /** In command-line order; later scalars override earlier ones, lists add up. */
  readonly values: readonly FlagValue[];
}

const BY_FLAG: ReadonlyMap<string, Setting<unknown>> = new Map(
  SETTINGS.flatMap((s) => s.flags.map((f) => [f, s] as const)),
);

const HELP = new Set(['--help', '-h']);

/** True when the command line asks for help; the node prints `usage()` and exits 0 before loading. */
export function helpRequested(argv: readonly string[]): boolean {
  return argv.some((a) => HELP.has(a));
}

/**
 * Splits the command line into flag values. Accepts `--flag value` and `--flag=value`. Throws
 * ConfigError on an unknown flag, a flag without its value, or a bare argument.
 */
export function parseFlags(argv: readonly string[]): ParsedFlags {
  let help = false;
  let config: string | undefined;
  const values: FlagValue[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (HELP.has(arg)) {
      help = true;
      continue;
    }
    if (/^-[^-]/.test(arg)) {
      throw new ConfigError('UNKNOWN_FLAG', arg, 'command line', 'unknown flag (see --help)');
    }
    if (!arg.startsWith('--') || arg === '--') {
      throw new ConfigError(
        'UNEXPECTED_ARGUMENT',
        arg,
        'command line',
        'unexpected argument: the node takes only --flags (see --help)',
      );
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    let raw = eq === -1 ? undefined : arg.slice(eq + 1);

    const setting = BY_FLAG.get(flag);
    if (flag !== CONFIG_FLAG && setting === undefined) {
      throw new ConfigError('UNKNOWN_FLAG', flag, 'command line', 'unknown flag (see --help)');
    }

    if (raw === undefined) {
      const next = argv[i + 1];
      if (setting?.arity === 'switch') {
        // A switch alone means true; it takes the next word only when that word is a boolean,
        // so `--sync-writes --port 1` and `--sync-writes false` both read as meant.
        if (next !== undefined && isBooleanWord(next)) {
          raw = next;
          i++;
        } else {
          raw = 'true';
        }
      } else if (next !== undefined && !next.startsWith('--')) {
        raw = next;
        i++;
      }
    }
    if (raw === undefined || raw.trim() === '') {
      throw new ConfigError('MISSING_VALUE', setting?.key ?? 'config', flag, 'needs a value');
    }

    if (setting === undefined) config = raw;
    else values.push({ setting, flag, raw });
  }
  return config === undefined ? { help, values } : { help, config, values };
}
