import { CONFIG_ENV, SETTINGS } from './settings.js';
import { type Layer, parseInput } from './source.js';

const PREFIX = 'MERKLEKV_';
/** The reference README documents `MERKLE_KV_*` variables its server never read. */
const README_PREFIX = 'MERKLE_KV_';

const KNOWN: ReadonlySet<string> = new Set([
  CONFIG_ENV,
  ...SETTINGS.flatMap((s) => (s.env === undefined ? [] : [s.env])),
]);

export interface EnvLayer {
  readonly values: Layer;
  readonly warnings: string[];
}

/**
 * Reads the `MERKLEKV_*` variables. An empty variable counts as unset, so that
 * `MERKLEKV_NATS=${NATS:-}` in a compose file means "no NATS" rather than an error.
 */
export function readEnv(env: Readonly<Record<string, string | undefined>>, cwd: string): EnvLayer {
  const values: Layer = new Map();
  const warnings: string[] = [];
  for (const setting of SETTINGS) {
    if (setting.env === undefined) continue;
    const raw = env[setting.env];
    if (raw === undefined || raw.trim() === '') continue;
    values.set(setting, { value: parseInput(setting, raw, setting.env, cwd, warnings), origin: setting.env });
  }
  for (const name of Object.keys(env).sort()) {
    if (name.startsWith(PREFIX) && !KNOWN.has(name)) {
      warnings.push(`${name}: unknown MERKLEKV_ environment variable ignored (see --help)`);
    } else if (name.startsWith(README_PREFIX)) {
      const ours = `${PREFIX}${name.slice(README_PREFIX.length)}`;
      const hint = KNOWN.has(ours) ? `; did you mean ${ours}?` : '';
      warnings.push(`${name}: not read (the variables are named MERKLEKV_*)${hint}`);
    }
  }
  return { values, warnings };
}

/** `MERKLEKV_CONFIG`, when set and not empty. */
export const configFromEnv = (env: Readonly<Record<string, string | undefined>>): string | undefined => {
  const raw = env[CONFIG_ENV];
  return raw === undefined || raw.trim() === '' ? undefined : raw.trim();
};
