import { resolve } from 'node:path';
import { configFromEnv, readEnv } from './env.js';
import { ConfigError } from './errors.js';
import { parseConfigText } from './file.js';
import { parseFlags } from './flags.js';
import { CONFIG_ENV, CONFIG_FLAG, DEFAULT_MAX_VALUE_BYTES, HTTP_PORT_OFFSET, MEMCACHED_PORT_OFFSET, S, SETTINGS, type Setting } from './settings.js';
import { type Layer, parseInput } from './source.js';
import { type ListenerTls, type NatsConfig, type NodeConfig, type UserConfig } from './types.js';
import { isName } from './values.js';

export interface LoadConfigInput {
  /** Command-line arguments after the script (`process.argv.slice(2)`). */
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Absolute; relative paths from every source resolve against it. */
  readonly cwd: string;
  /** Reads the config file as UTF-8 text; throws when it cannot (the error becomes a ConfigError). */
  readonly readFile: (path: string) => string;
}

export interface LoadedConfig {
  readonly config: NodeConfig;
  /** Things worth a log line that do not stop the node: unknown keys, ignored MQTT settings... */
  readonly warnings: string[];
  /**
   * Where each setting's value came from, by file key: `default`, `--port`, `MERKLEKV_PORT`,
   * `storage_path in /etc/merklekv/config.toml`.
   */
  readonly sources: Readonly<Record<string, string>>;
  /** The config file that was read (absolute), if any. */
  readonly configFile?: string;
}

/** The cluster name when neither `nats.cluster` nor a usable reference `topic_prefix` is set. */
export const DEFAULT_CLUSTER = 'merkle_kv';

/**
 * Resolves the node's configuration. Precedence, lowest first: defaults, the config file
 * (`--config <path>`, else `MERKLEKV_CONFIG`), `MERKLEKV_*` environment variables, flags.
 * Throws ConfigError on anything invalid. `--help` is not handled here: check `helpRequested`
 * first so that help prints even next to a broken setting.
 */
export function loadConfig(input: LoadConfigInput): LoadedConfig {
  const cwd = resolve(input.cwd);
  const flags = parseFlags(input.argv);
  const warnings: string[] = [];

  let fileValues: Layer = new Map();
  let configFile: string | undefined;
  let users: readonly UserConfig[] = [];
  const fromEnv = configFromEnv(input.env);
  const named =
    flags.config !== undefined
      ? { path: flags.config, origin: CONFIG_FLAG }
      : fromEnv !== undefined
        ? { path: fromEnv, origin: CONFIG_ENV }
        : undefined;
  if (named !== undefined) {
    configFile = resolve(cwd, named.path);
    let text: string;
    try {
      text = input.readFile(configFile);
    } catch (err) {
      const why = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ');
      throw new ConfigError('UNREADABLE_FILE', 'config', named.origin, `cannot read ${configFile}: ${why}`, {
        cause: err,
      });
    }
    const file = parseConfigText(text, configFile, cwd);
    fileValues = file.values;
    users = file.users ?? [];
    warnings.push(...file.warnings);
  }

  const env = readEnv(input.env, cwd);
  warnings.push(...env.warnings);

  const flagValues: Layer = new Map();
  for (const { setting, flag, raw } of flags.values) {
    const value = parseInput(setting, raw, flag, cwd, warnings);
    const previous = flagValues.get(setting);
    if (setting.arity === 'list' && previous !== undefined && Array.isArray(previous.value) && Array.isArray(value)) {
      flagValues.set(setting, { value: [...(previous.value as unknown[]), ...(value as unknown[])], origin: previous.origin });
    } else {
      flagValues.set(setting, { value, origin: flag });
    }
  }

  const sources: Record<string, string> = {};
  const layers = [flagValues, env.values, fileValues];
  const get = <T>(setting: Setting<T>): T => {
    for (const layer of layers) {
      const assigned = layer.get(setting);
      if (assigned !== undefined) {
        sources[setting.key] = assigned.origin;
        // Layers map a setting to what that setting's own parser returned.
        return assigned.value as T;
      }
    }
    sources[setting.key] = 'default';
    return setting.fallback(cwd);
  };
  const origin = (setting: Setting<unknown>): string => sources[setting.key] ?? 'default';
  const isSet = (setting: Setting<unknown>): boolean => origin(setting) !== 'default';

  // Resolve every setting now, so that `sources` is complete whatever the checks below read.
  const nodeId = get(S.nodeId);
  const host = get(S.host);
  const port = get(S.port);
  let httpPort = get(S.httpPort);
  let memcachedPort = get(S.memcachedPort);
  const engine = get(S.engine);
  const dataDir = get(S.dataDir);
  const shards = get(S.shards);
  const splitGroup = get(S.splitGroup);
  const hostedShards = get(S.hostedShards);
  const syncWrites = get(S.syncWrites);
  const cacheBytes = get(S.cacheBytes);
  const maxValueBytes = get(S.maxValueBytes);
  const clientIdleTimeoutSeconds = get(S.clientIdleTimeout);
  const maxConnections = get(S.maxConnections);
  const listenerCert = get(S.tlsCert);
  const listenerKey = get(S.tlsKey);
  const listenerCa = get(S.tlsCa);
  const insecure = get(S.insecure);
  const logLevel = get(S.logLevel);
  const logFile = get(S.logFile);
  const servers = get(S.natsServers);
  const clusterSetting = get(S.cluster);
  const credsFile = get(S.natsCreds);
  const token = get(S.natsToken);
  const natsUser = get(S.natsUser);
  const natsPassword = get(S.natsPassword);
  const nkeyFile = get(S.natsNkey);
  const tlsCa = get(S.natsTlsCa);
  const tlsCert = get(S.natsTlsCert);
  const tlsKey = get(S.natsTlsKey);
  const replicationEnabled = get(S.replicationEnabled);
  const topicPrefix = get(S.topicPrefix);
  const antiEntropyEnabled = get(S.antiEntropyEnabled);
  const intervalSeconds = get(S.antiEntropyInterval);
  const peers = get(S.peers);
  const tombstoneGraceSeconds = get(S.tombstoneGrace);
  const sessionBudgetBytes = get(S.antiEntropyBudget);
  if (SETTINGS.some((s) => sources[s.key] === undefined)) throw new Error('config: a setting was not resolved');

  /**
   * An unset listener port follows `port` at its default distance (8080 and 11211 from 7379), so
   * nodes given their own ports get their own listeners (the reference server's config files
   * name neither).
   */
  const follow = (setting: Setting<number | null>, offset: number, what: string, value: number | null): number | null => {
    if (isSet(setting) || !isSet(S.port)) return value;
    const derived = port === 0 ? 0 : port + offset;
    if (derived <= 65_535) {
      sources[setting.key] = `${S.port.key} + ${offset} (${origin(S.port)})`;
      return derived;
    }
    sources[setting.key] = `off: ${S.port.key} + ${offset} is no port (${origin(S.port)})`;
    warnings.push(`${origin(S.port)}: port ${port} leaves no port ${offset} above it for ${what}: no ${what} listener (set ${setting.key} for one)`);
    return null;
  };
  httpPort = follow(S.httpPort, HTTP_PORT_OFFSET, 'HTTP', httpPort);
  memcachedPort = follow(S.memcachedPort, MEMCACHED_PORT_OFFSET, 'memcached', memcachedPort);

  // Two listeners on one fixed port would fail at bind time with a less helpful message.
  const listeners = [
    { setting: S.port, port },
    { setting: S.httpPort, port: httpPort },
    { setting: S.memcachedPort, port: memcachedPort },
  ];
  listeners.forEach((b, i) => {
    const a = listeners.slice(0, i).find((l) => l.port !== null && l.port !== 0 && l.port === b.port);
    if (a !== undefined) {
      throw new ConfigError('INVALID_VALUE', b.setting.key, origin(b.setting), `must differ from ${a.setting.key} (both ${b.port}, ${a.setting.key} from ${origin(a.setting)})`);
    }
  });

  const beyond = hostedShards?.find((shard) => shard >= shards);
  if (beyond !== undefined) {
    throw new ConfigError('INVALID_VALUE', S.hostedShards.key, origin(S.hostedShards), `shard ${beyond} does not exist: shards are 0-${shards - 1}`);
  }

  const requireBoth = (a: Setting<string | undefined>, b: Setting<string | undefined>): void => {
    if (isSet(a) === isSet(b)) return;
    const [present, missing] = isSet(a) ? [a, b] : [b, a];
    throw new ConfigError('INVALID_VALUE', missing.key, origin(present), `is required with ${present.key}`);
  };
  requireBoth(S.natsTlsCert, S.natsTlsKey);
  requireBoth(S.natsUser, S.natsPassword);
  requireBoth(S.tlsCert, S.tlsKey);
  if (listenerCa !== undefined && listenerCert === undefined) {
    throw new ConfigError('INVALID_VALUE', S.tlsCert.key, origin(S.tlsCa), `is required with ${S.tlsCa.key} (client certificates are checked over TLS)`);
  }
  const tls: ListenerTls | undefined =
    listenerCert !== undefined && listenerKey !== undefined
      ? { certFile: listenerCert, keyFile: listenerKey, ...(listenerCa !== undefined && { caFile: listenerCa }) }
      : undefined;

  // Before the cluster name may be derived from topic_prefix below, which sets its source.
  const natsOnly = [S.cluster, S.natsCreds, S.natsToken, S.natsUser, S.natsPassword, S.natsNkey, S.natsTlsCa, S.natsTlsCert, S.natsTlsKey].filter(isSet);

  let cluster = clusterSetting;
  if (cluster === undefined && topicPrefix !== undefined) {
    if (isName(topicPrefix)) {
      cluster = topicPrefix;
      sources[S.cluster.key] = origin(S.topicPrefix);
    } else if (servers.length > 0) {
      warnings.push(
        `${origin(S.topicPrefix)}: ${JSON.stringify(topicPrefix)} cannot name the cluster (1-64 characters from A-Z a-z 0-9 _ -); using ${DEFAULT_CLUSTER}, set nats.cluster to choose`,
      );
    }
  }

  let nats: NatsConfig | undefined;
  if (servers.length > 0) {
    const natsTls =
      tlsCa !== undefined || tlsCert !== undefined
        ? {
            ...(tlsCa !== undefined && { caFile: tlsCa }),
            ...(tlsCert !== undefined && { certFile: tlsCert }),
            ...(tlsKey !== undefined && { keyFile: tlsKey }),
          }
        : undefined;
    nats = {
      servers,
      cluster: cluster ?? DEFAULT_CLUSTER,
      ...(credsFile !== undefined && { credsFile }),
      ...(token !== undefined && { token }),
      ...(natsUser !== undefined && natsPassword !== undefined && { user: { name: natsUser, password: natsPassword } }),
      ...(nkeyFile !== undefined && { nkeyFile }),
      ...(natsTls !== undefined && { tls: natsTls }),
    };
  } else {
    if (natsOnly.length > 0) {
      warnings.push(
        `${natsOnly.map((s) => s.key).join(', ')} set but no NATS servers configured (nats.servers, MERKLEKV_NATS, --nats): the node runs standalone`,
      );
    }
    if (replicationEnabled && isSet(S.replicationEnabled)) {
      warnings.push(
        `${origin(S.replicationEnabled)}: replication is enabled but no NATS servers are configured (nats.servers, MERKLEKV_NATS, --nats): the node runs standalone`,
      );
    }
  }
  if (nats !== undefined && !replicationEnabled) {
    warnings.push(
      `${origin(S.replicationEnabled)}: replication is disabled: this node neither publishes nor applies changes over NATS until REPLICATE enable`,
    );
  }

  if (maxValueBytes > DEFAULT_MAX_VALUE_BYTES) {
    warnings.push(
      `${origin(S.maxValueBytes)}: values over ${DEFAULT_MAX_VALUE_BYTES} bytes may not fit in one text-protocol line (1 MiB) or, with their key and metadata, in one NATS message (nats-server default max_payload 1 MiB): raise max_payload on the NATS servers to match`,
    );
  }

  const config: NodeConfig = {
    ...(nodeId !== undefined && { nodeId }),
    host,
    port,
    httpPort,
    memcachedPort,
    engine,
    dataDir,
    shards,
    split: { group: splitGroup, hostedShards: hostedShards ?? Array.from({ length: shards }, (_, i) => i) },
    syncWrites,
    cacheBytes,
    maxValueBytes,
    clientIdleTimeoutSeconds,
    maxConnections,
    users,
    ...(tls !== undefined && { tls }),
    insecure,
    log: { level: logLevel, ...(logFile !== undefined && { file: logFile }) },
    ...(nats !== undefined && { nats }),
    replication: { enabled: replicationEnabled, ...(topicPrefix !== undefined && { topicPrefix }) },
    antiEntropy: { enabled: antiEntropyEnabled, intervalSeconds, peers, tombstoneGraceSeconds, sessionBudgetBytes },
  };
  return { config, warnings, sources, ...(configFile !== undefined && { configFile }) };
}
