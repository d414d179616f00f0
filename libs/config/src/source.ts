import { ConfigError } from './errors.js';
import { type Setting } from './settings.js';
import { describeValue, Invalid } from './values.js';

/** A parsed value and where it came from: `--port`, `MERKLEKV_PORT`, `port in /etc/merklekv.toml`. */
export interface Assigned {
  readonly value: unknown;
  readonly origin: string;
}

/** What one source (file, environment, flags) sets. */
export type Layer = Map<Setting<unknown>, Assigned>;

/**
 * Parses one input for a setting. A rejection becomes the ConfigError that names the setting's
 * key and the origin; a parser's remark becomes a warning that names the origin.
 */
export function parseInput(
  setting: Setting<unknown>,
  input: unknown,
  origin: string,
  cwd: string,
  warnings: string[],
): unknown {
  try {
    return setting.parse(input, { cwd, warn: (message) => warnings.push(`${origin}: ${message}`) });
  } catch (err) {
    if (!(err instanceof Invalid)) throw err;
    const got = setting.secret ? '' : `, got ${describeValue(err.offending ?? input)}`;
    throw new ConfigError('INVALID_VALUE', setting.key, origin, `${err.reason}${got}`, { cause: err });
  }
}
