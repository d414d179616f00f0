import { parse, TomlError } from 'smol-toml';
import { ConfigError } from './errors.js';
import { CLIENT_ID_KEY, MQTT_KEYS, MQTT_TABLES, S, SETTINGS, type Setting } from './settings.js';
import { type Layer, parseInput } from './source.js';
import { type UserConfig } from './types.js';
import { parseUsers } from './users.js';
import { isName, isTable } from './values.js';

/**
 * Reads one TOML config file: ours (`merklekv.toml`) or the reference server's flat format, or a
 * mix. Each setting may be spelled several ways (`data_dir`, `storage_path`, `[storage] path`);
 * when several are present the setting's own key wins, then the aliases in table order, and a
 * disagreement is reported as a warning rather than refused, since the reference server would
 * have started. Unknown keys and MQTT keys are warnings too: a file the reference server accepts
 * must start this node unchanged.
 */

interface FileKey {
  readonly setting: Setting<unknown>;
  /** 0 for the setting's own key, then 1, 2... for its aliases. */
  readonly rank: number;
}

const FILE_KEYS: ReadonlyMap<string, FileKey> = new Map(
  SETTINGS.flatMap((setting) =>
    [setting.key, ...setting.aliases].map((key, rank) => [key, { setting, rank }] as const),
  ),
);

/** Tables whose keys we read, by name. */
const TABLES: ReadonlySet<string> = new Set(
  [...FILE_KEYS.keys(), CLIENT_ID_KEY, ...MQTT_KEYS].flatMap((k) => {
    const dot = k.indexOf('.');
    return dot === -1 ? [] : [k.slice(0, dot)];
  }),
);

const MQTT_HINT = 'MQTT is replaced by NATS (set nats.servers, MERKLEKV_NATS or --nats)';

export interface FileLayer {
  readonly values: Layer;
  readonly warnings: string[];
  /** The `[[users]]` entries, when the file has any (users come from the file only). */
  readonly users?: UserConfig[];
}

/** Arrays of tables, read whole rather than as settings. */
const USERS_KEY = 'users';

/**
 * Parses the text of a config file. `file` is its absolute path (for messages); `cwd` resolves
 * relative paths, as the reference server does (its `storage_path` is relative to the process).
 */
export function parseConfigText(text: string, file: string, cwd: string): FileLayer {
  let doc: Record<string, unknown>;
  try {
    // Some Windows editors start a file with a byte-order mark; drop it rather than fail on it.
    doc = parse(text.replace(/^\uFEFF/, ''), { integersAsBigInt: 'asNeeded' });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const what = (err.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
    throw new ConfigError('SYNTAX', 'config', file, `TOML syntax error at line ${err.line}, column ${err.column}: ${what}`, {
      cause: err,
    });
  }

  const warnings: string[] = [];
  const found = new Map<Setting<unknown>, { key: string; rank: number; input: unknown }[]>();
  const ignoredMqtt: string[] = [];
  const unknown: string[] = [];
  let clientId: { input: unknown } | undefined;
  let users: UserConfig[] | undefined;

  const visit = (key: string, input: unknown): void => {
    if (key === CLIENT_ID_KEY) {
      clientId = { input };
      return;
    }
    if (MQTT_KEYS.includes(key)) {
      ignoredMqtt.push(key);
      return;
    }
    const fileKey = FILE_KEYS.get(key);
    if (fileKey === undefined) {
      unknown.push(isTable(input) ? `[${key}]` : key);
      return;
    }
    const list = found.get(fileKey.setting) ?? [];
    list.push({ key, rank: fileKey.rank, input });
    found.set(fileKey.setting, list);
  };

  for (const [key, input] of Object.entries(doc)) {
    if (key === USERS_KEY) {
      users = parseUsers(input, file);
    } else if (MQTT_TABLES.includes(key)) {
      ignoredMqtt.push(`[${key}]`);
    } else if (isTable(input)) {
      if (TABLES.has(key)) for (const [sub, subInput] of Object.entries(input)) visit(`${key}.${sub}`, subInput);
      else unknown.push(`[${key}]`);
    } else if (TABLES.has(key) && !FILE_KEYS.has(key)) {
      throw new ConfigError('INVALID_VALUE', key, `${key} in ${file}`, `must be a table ([${key}])`);
    } else {
      visit(key, input);
    }
  }

  const values: Layer = new Map();
  for (const [setting, spellings] of found) {
    spellings.sort((a, b) => a.rank - b.rank);
    let winner: { key: string; value: unknown } | undefined;
    for (const { key, input } of spellings) {
      const value = parseInput(setting, input, `${key} in ${file}`, cwd, warnings);
      if (winner === undefined) winner = { key, value };
      else if (JSON.stringify(value) !== JSON.stringify(winner.value)) {
        warnings.push(`${file}: ${key} is ignored: ${winner.key} is also set, to a different value`);
      }
    }
    if (winner !== undefined) values.set(setting, { value: winner.value, origin: `${winner.key} in ${file}` });
  }

  if (clientId !== undefined) adoptClientId(clientId.input, values, file, warnings, ignoredMqtt);

  if (ignoredMqtt.length > 0) warnings.push(`${file}: ${ignoredMqtt.join(', ')} ignored: ${MQTT_HINT}`);
  for (const key of unknown) warnings.push(`${file}: unknown key ${key} ignored`);
  return { values, warnings, ...(users !== undefined && { users }) };
}

/**
 * The reference server names a node by `[replication] client_id` (its loop prevention skips
 * events whose source is its own client id). We take it as the node id only where the file
 * enabled replication: standalone reference configs commonly all keep the default `node1`, and
 * nodes sharing an id would drop each other's changes as their own.
 */
function adoptClientId(input: unknown, values: Layer, file: string, warnings: string[], ignored: string[]): void {
  const origin = `${CLIENT_ID_KEY} in ${file}`;
  const nodeId = values.get(S.nodeId);
  if (nodeId !== undefined) {
    if (nodeId.value !== input) warnings.push(`${file}: ${CLIENT_ID_KEY} is ignored: node_id is also set`);
    return;
  }
  if (values.get(S.replicationEnabled)?.value !== true) {
    ignored.push(CLIENT_ID_KEY);
    return;
  }
  if (typeof input === 'string' && isName(input.trim())) {
    values.set(S.nodeId, { value: input.trim(), origin });
  } else {
    warnings.push(
      `${origin}: cannot serve as the node id (must be 1-64 characters from A-Z a-z 0-9 _ -); set node_id, or the node generates one`,
    );
  }
}
