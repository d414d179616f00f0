import { type EngineKind, type LogLevel, type PeerAddress } from './types.js';
import * as v from './values.js';

/**
 * Every setting, once: its config-file key and the reference server's spellings of it, its
 * environment variable, its flags, its default and its parser. The loader, `usage()` and
 * `CONFIG_REFERENCE` all read this table, so the help text cannot drift from the behaviour.
 */
export interface Setting<T> {
  /** Key in our TOML format, dotted for tables: `port`, `log.level`. Also the key errors name. */
  readonly key: string;
  /** Other file keys that set it (the reference server's and its README's spellings), lower priority. */
  readonly aliases: readonly string[];
  readonly env?: string;
  /** First one is the documented flag; the others are aliases (`--storage-path`). */
  readonly flags: readonly string[];
  /**
   * How a flag takes its value. `value`: the next argument or `=value`. `switch`: alone means
   * true, `=false` or a following boolean word sets it. `list`: like `value`, repeatable, adds up.
   */
  readonly arity: 'value' | 'switch' | 'list';
  /** Placeholder in `usage()`: `<port>`. */
  readonly hint: string;
  /** Not echoed in error messages. */
  readonly secret?: boolean;
  readonly defaultText: string;
  readonly description: string;
  readonly parse: v.Parser<T>;
  /** The value when no source sets it. */
  readonly fallback: (cwd: string) => T;
}

const def = <T>(s: Setting<T>): Setting<T> => s;

/** 1 MiB: the text protocol's line limit, and nats-server's default `max_payload`. */
export const ONE_MIB = 1_048_576;
export const DEFAULT_CACHE_BYTES = 128 * ONE_MIB;
/**
 * Default value limit: 1 MiB, so that every value a 1 MiB text-protocol line can carry (and an
 * HTTP body of 1 MiB) is accepted, as the reference accepts it. Replicating such a change needs
 * NATS messages above nats-server's default 1 MiB max_payload; the cluster checks that at connect.
 */
export const DEFAULT_MAX_VALUE_BYTES = ONE_MIB;

const engine = v.oneOf<EngineKind>(
  ['rocksdb', 'memory'],
  { rocksdb: 'rocksdb', sled: 'rocksdb', memory: 'memory', rwlock: 'memory', kv: 'memory' },
  {
    sled: 'engine "sled" (reference server) is served by RocksDB here; data files written by sled are not read',
  },
);

const logLevel = v.oneOf<LogLevel>(['debug', 'info', 'warn', 'error'], {
  trace: 'debug',
  debug: 'debug',
  info: 'info',
  warn: 'warn',
  warning: 'warn',
  error: 'error',
});

/** A log file path; `-` means stderr (so a flag can undo a file's `log.file`). */
const logFile: v.Parser<string | undefined> = (input, ctx) =>
  typeof input === 'string' && input.trim() === '-' ? undefined : v.path(input, ctx);

export const S = {
  nodeId: def<string | undefined>({
    key: 'node_id',
    aliases: [],
    env: 'MERKLEKV_NODE_ID',
    flags: ['--node-id'],
    arity: 'value',
    hint: '<id>',
    defaultText: 'generated once, kept in the data dir',
    description:
      'Unique id of this node in its cluster: 1-64 of A-Z a-z 0-9 _ -. The reference file\'s [replication] client_id is used when replication is enabled there.',
    parse: v.name,
    fallback: () => undefined,
  }),
  host: def<string>({
    key: 'host',
    aliases: ['network.bind_address'],
    env: 'MERKLEKV_HOST',
    flags: ['--host'],
    arity: 'value',
    hint: '<address>',
    defaultText: '127.0.0.1',
    description: 'Address that all listeners bind (0.0.0.0 or :: for every interface).',
    parse: v.host,
    fallback: () => '127.0.0.1',
  }),
  port: def<number>({
    key: 'port',
    aliases: ['network.bind_port'],
    env: 'MERKLEKV_PORT',
    flags: ['--port'],
    arity: 'value',
    hint: '<port>',
    defaultText: '7379',
    description: 'MerkleKV text protocol port; 0 picks a free port.',
    parse: v.port,
    fallback: () => 7379,
  }),
  httpPort: def<number | null>({
    key: 'http_port',
    aliases: [],
    env: 'MERKLEKV_HTTP_PORT',
    flags: ['--http-port'],
    arity: 'value',
    hint: '<port>',
    defaultText: '8080',
    description:
      'HTTP/JSON API, /healthz, /readyz and /metrics (a store-shard process: the probes and /metrics only); 0 picks a free port; -1 or off: no HTTP listener. Unset, it follows port: port + 701 (7379 gives 8080, 0 gives 0), so nodes given their own ports get their own HTTP ports (the reference server\'s config files have none).',
    parse: v.optionalPort,
    fallback: () => 8080,
  }),
  memcachedPort: def<number | null>({
    key: 'memcached_port',
    aliases: [],
    env: 'MERKLEKV_MEMCACHED_PORT',
    flags: ['--memcached-port'],
    arity: 'value',
    hint: '<port>',
    defaultText: '11211',
    description:
      'memcached protocol (text, meta and binary commands, on the same data as the other protocols); 0 picks a free port; -1 or off: no memcached listener. Unset, it follows port: port + 3832 (7379 gives 11211, 0 gives 0), as http_port does.',
    parse: v.optionalPort,
    fallback: () => 11211,
  }),
  engine: def<EngineKind>({
    key: 'engine',
    aliases: ['storage.engine'],
    env: 'MERKLEKV_ENGINE',
    flags: ['--engine'],
    arity: 'value',
    hint: '<rocksdb|memory>',
    defaultText: 'rocksdb',
    description:
      'Storage engine. The reference server\'s names are accepted: sled = rocksdb; rwlock, kv = memory (nothing survives a restart).',
    parse: engine,
    fallback: () => 'rocksdb',
  }),
  dataDir: def<string>({
    key: 'data_dir',
    aliases: ['storage_path', 'storage.path'],
    env: 'MERKLEKV_DATA_DIR',
    flags: ['--data-dir', '--storage-path'],
    arity: 'value',
    hint: '<path>',
    defaultText: './data',
    description: 'Data directory; relative paths resolve against the working directory (also in a file).',
    parse: v.path,
    fallback: (cwd) => v.path('data', { cwd, warn: () => undefined }),
  }),
  shards: def<number>({
    key: 'shards',
    aliases: [],
    env: 'MERKLEKV_SHARDS',
    flags: ['--shards'],
    arity: 'value',
    hint: '<n>',
    defaultText: '16',
    description: 'Number of keyspace shards, 1-4096; the same on every node of a cluster.',
    parse: v.integer(1, 4096),
    fallback: () => 16,
  }),
  splitGroup: def<string>({
    key: 'split.group',
    aliases: [],
    env: 'MERKLEKV_SPLIT_GROUP',
    flags: ['--group'],
    arity: 'value',
    hint: '<name>',
    defaultText: 'main',
    description:
      'Split deployments: store-shard processes serve their shards under this name, and gateways of the same name route to them. 1-64 of A-Z a-z 0-9 _ -.',
    parse: v.name,
    fallback: () => 'main',
  }),
  hostedShards: def<number[] | undefined>({
    key: 'split.hosted_shards',
    aliases: [],
    env: 'MERKLEKV_HOSTED_SHARDS',
    flags: ['--hosted-shards'],
    arity: 'value',
    hint: '<ranges>',
    defaultText: 'all',
    description: 'Split deployments: the shards a store-shard process serves, as numbers and ranges ("0-7,12").',
    parse: v.shardRanges,
    fallback: () => undefined,
  }),
  syncWrites: def<boolean>({
    key: 'sync_writes',
    aliases: [],
    env: 'MERKLEKV_SYNC_WRITES',
    flags: ['--sync-writes'],
    arity: 'switch',
    hint: '[=true|false]',
    defaultText: 'false',
    description:
      'fsync each commit group. Acknowledged writes survive kill -9 either way; with fsync they also survive power loss.',
    parse: v.boolean,
    fallback: () => false,
  }),
  cacheBytes: def<number>({
    key: 'cache_bytes',
    aliases: ['storage.cache_bytes'],
    env: 'MERKLEKV_CACHE_BYTES',
    flags: ['--cache-bytes'],
    arity: 'value',
    hint: '<size>',
    defaultText: '128MiB',
    description:
      "Memory for caching stored data: half for RocksDB's block cache, a quarter for decoded hot entries, a quarter for the Merkle Search Trees' nodes. With RocksDB's write buffers (up to 128 MiB) it sets the node's memory; the keyspace and the trees stay on disk.",
    parse: v.byteSize(ONE_MIB, 4 * 1024 * ONE_MIB - 1),
    fallback: () => DEFAULT_CACHE_BYTES,
  }),
  maxValueBytes: def<number>({
    key: 'max_value_bytes',
    aliases: [],
    env: 'MERKLEKV_MAX_VALUE_BYTES',
    flags: ['--max-value-bytes'],
    arity: 'value',
    hint: '<bytes>',
    defaultText: String(DEFAULT_MAX_VALUE_BYTES),
    description:
      'Largest value any protocol may store (1 MiB: anything a 1 MiB protocol line can carry).',
    parse: v.integer(1, 64 * ONE_MIB),
    fallback: () => DEFAULT_MAX_VALUE_BYTES,
  }),
  clientIdleTimeout: def<number>({
    key: 'client_idle_timeout_seconds',
    aliases: [],
    env: 'MERKLEKV_CLIENT_IDLE_TIMEOUT',
    flags: ['--client-idle-timeout'],
    arity: 'value',
    hint: '<seconds>',
    defaultText: '300',
    description:
      'Close a client connection (MerkleKV text, HTTP) idle this long, 0-604800: no complete request and nothing taken of its replies. A WATCH, an event stream and a command still running are not idle. 0: never.',
    parse: v.integer(0, 604_800),
    fallback: () => 300,
  }),
  maxConnections: def<number>({
    key: 'max_connections',
    aliases: [],
    env: 'MERKLEKV_MAX_CONNECTIONS',
    flags: ['--max-connections'],
    arity: 'value',
    hint: '<n>',
    defaultText: '10000',
    description:
      'Client connections each listener (MerkleKV text, HTTP) holds at most, 0-1000000; one more is refused with an error (ERROR max connections reached / HTTP 503) and closed. 0: no limit.',
    parse: v.integer(0, 1_000_000),
    fallback: () => 10_000,
  }),
  tlsCert: def<string | undefined>({
    key: 'tls.cert_file',
    aliases: [],
    env: 'MERKLEKV_TLS_CERT',
    flags: ['--tls-cert'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none (plaintext)',
    description:
      'PEM certificate chain for the client listeners (with tls.key_file): set, the MerkleKV text and HTTP ports speak TLS only (1.2 or later). SIGHUP reloads the files; open connections stay.',
    parse: v.path,
    fallback: () => undefined,
  }),
  tlsKey: def<string | undefined>({
    key: 'tls.key_file',
    aliases: [],
    env: 'MERKLEKV_TLS_KEY',
    flags: ['--tls-key'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'PEM private key of tls.cert_file.',
    parse: v.path,
    fallback: () => undefined,
  }),
  tlsCa: def<string | undefined>({
    key: 'tls.ca_file',
    aliases: [],
    env: 'MERKLEKV_TLS_CA',
    flags: ['--tls-ca'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'PEM CA bundle: set, clients must present a certificate it signed (mutual TLS).',
    parse: v.path,
    fallback: () => undefined,
  }),
  insecure: def<boolean>({
    key: 'insecure',
    aliases: [],
    env: 'MERKLEKV_INSECURE',
    flags: ['--insecure'],
    arity: 'switch',
    hint: '[=true|false]',
    defaultText: 'false',
    description:
      'Start on a non-loopback host with no [[users]] configured (protected mode refuses that otherwise): anyone who reaches the ports may read, write and shut down.',
    parse: v.boolean,
    fallback: () => false,
  }),
  logLevel: def<LogLevel>({
    key: 'log.level',
    aliases: ['logging.level'],
    env: 'MERKLEKV_LOG_LEVEL',
    flags: ['--log-level'],
    arity: 'value',
    hint: '<debug|info|warn|error>',
    defaultText: 'info',
    description: 'Least severe level written.',
    parse: logLevel,
    fallback: () => 'info',
  }),
  logFile: def<string | undefined>({
    key: 'log.file',
    aliases: ['logging.file_path'],
    env: 'MERKLEKV_LOG_FILE',
    flags: ['--log-file'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'stderr',
    description: 'Write the JSON-lines log to this file instead of stderr; - means stderr.',
    parse: logFile,
    fallback: () => undefined,
  }),
  natsServers: def<string[]>({
    key: 'nats.servers',
    aliases: [],
    env: 'MERKLEKV_NATS',
    flags: ['--nats'],
    arity: 'list',
    hint: '<url>',
    defaultText: 'none (standalone)',
    description:
      'NATS server URLs (comma-separated, or repeat the flag). None: the node runs standalone, without replication.',
    parse: v.natsServers,
    fallback: () => [],
  }),
  cluster: def<string | undefined>({
    key: 'nats.cluster',
    aliases: [],
    env: 'MERKLEKV_CLUSTER',
    flags: ['--cluster'],
    arity: 'value',
    hint: '<name>',
    defaultText: 'merkle_kv',
    description:
      'Replication group on the shared NATS: 1-64 of A-Z a-z 0-9 _ -. Unset: the reference [replication] topic_prefix if valid, else merkle_kv.',
    parse: v.name,
    fallback: () => undefined,
  }),
  natsCreds: def<string | undefined>({
    key: 'nats.creds_file',
    aliases: [],
    env: 'MERKLEKV_NATS_CREDS',
    flags: ['--nats-creds'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'NATS credentials file (JWT and nkey seed).',
    parse: v.path,
    fallback: () => undefined,
  }),
  natsToken: def<string | undefined>({
    key: 'nats.token',
    aliases: [],
    env: 'MERKLEKV_NATS_TOKEN',
    flags: [],
    arity: 'value',
    hint: '<token>',
    secret: true,
    defaultText: 'none',
    description: 'NATS auth token (file or environment only: flags show in ps).',
    parse: v.text,
    fallback: () => undefined,
  }),
  natsUser: def<string | undefined>({
    key: 'nats.user',
    aliases: [],
    env: 'MERKLEKV_NATS_USER',
    flags: ['--nats-user'],
    arity: 'value',
    hint: '<name>',
    defaultText: 'none',
    description: 'NATS user name (with nats.password).',
    parse: v.text,
    fallback: () => undefined,
  }),
  natsPassword: def<string | undefined>({
    key: 'nats.password',
    aliases: [],
    env: 'MERKLEKV_NATS_PASSWORD',
    flags: [],
    arity: 'value',
    hint: '<password>',
    secret: true,
    defaultText: 'none',
    description: 'NATS password of nats.user (file or environment only: flags show in ps).',
    parse: v.text,
    fallback: () => undefined,
  }),
  natsNkey: def<string | undefined>({
    key: 'nats.nkey_file',
    aliases: [],
    env: 'MERKLEKV_NATS_NKEY',
    flags: ['--nats-nkey'],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'File holding the NATS nkey seed (SU...) this node signs in with (an nkey user without a JWT).',
    parse: v.path,
    fallback: () => undefined,
  }),
  natsTlsCa: def<string | undefined>({
    key: 'nats.tls_ca_file',
    aliases: [],
    env: 'MERKLEKV_NATS_TLS_CA',
    flags: [],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'CA bundle that signs the NATS servers\' certificates.',
    parse: v.path,
    fallback: () => undefined,
  }),
  natsTlsCert: def<string | undefined>({
    key: 'nats.tls_cert_file',
    aliases: [],
    env: 'MERKLEKV_NATS_TLS_CERT',
    flags: [],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'Client certificate for NATS (with nats.tls_key_file).',
    parse: v.path,
    fallback: () => undefined,
  }),
  natsTlsKey: def<string | undefined>({
    key: 'nats.tls_key_file',
    aliases: [],
    env: 'MERKLEKV_NATS_TLS_KEY',
    flags: [],
    arity: 'value',
    hint: '<path>',
    defaultText: 'none',
    description: 'Private key of the NATS client certificate.',
    parse: v.path,
    fallback: () => undefined,
  }),
  replicationEnabled: def<boolean>({
    key: 'replication.enabled',
    aliases: [],
    env: 'MERKLEKV_REPLICATION',
    flags: ['--replication'],
    arity: 'switch',
    hint: '[=true|false]',
    defaultText: 'true',
    description:
      'Publish local changes and apply other nodes\' changes over NATS (no effect without NATS). REPLICATE toggles it at run time.',
    parse: v.boolean,
    fallback: () => true,
  }),
  topicPrefix: def<string | undefined>({
    key: 'replication.topic_prefix',
    aliases: [],
    flags: [],
    arity: 'value',
    hint: '<prefix>',
    defaultText: 'none',
    description: 'Reference server\'s MQTT topic prefix; names the cluster when nats.cluster is unset.',
    parse: v.text,
    fallback: () => undefined,
  }),
  antiEntropyEnabled: def<boolean>({
    key: 'anti_entropy.enabled',
    aliases: [],
    env: 'MERKLEKV_ANTI_ENTROPY',
    flags: ['--anti-entropy'],
    arity: 'switch',
    hint: '[=true|false]',
    defaultText: 'true',
    description: 'Run periodic Merkle sync rounds with peers.',
    parse: v.boolean,
    fallback: () => true,
  }),
  antiEntropyInterval: def<number>({
    key: 'anti_entropy.interval_seconds',
    aliases: ['sync_interval_seconds'],
    env: 'MERKLEKV_ANTI_ENTROPY_INTERVAL',
    flags: ['--anti-entropy-interval'],
    arity: 'value',
    hint: '<seconds>',
    defaultText: '30',
    description: 'Seconds between anti-entropy rounds, 1-604800 (jitter is added).',
    parse: v.integer(1, 604_800),
    fallback: () => 30,
  }),
  tombstoneGrace: def<number>({
    key: 'anti_entropy.tombstone_grace_seconds',
    aliases: [],
    env: 'MERKLEKV_TOMBSTONE_GRACE',
    flags: ['--tombstone-grace'],
    arity: 'value',
    hint: '<seconds>',
    defaultText: '86400',
    description:
      'Age before a delete\'s tombstone may be collected (once every node seen within that time confirmed it); a node away longer must rejoin with an empty data dir.',
    parse: v.integer(1, 31_536_000),
    fallback: () => 86_400,
  }),
  antiEntropyBudget: def<number>({
    key: 'anti_entropy.session_budget_bytes',
    aliases: [],
    env: 'MERKLEKV_ANTI_ENTROPY_BUDGET',
    flags: ['--anti-entropy-budget'],
    arity: 'value',
    hint: '<bytes>',
    defaultText: String(256 * ONE_MIB),
    description: 'Bytes one anti-entropy session may send and receive; a repair that needs more carries on in the next round.',
    parse: v.integer(64 * 1024, 64 * 1024 * ONE_MIB),
    fallback: () => 256 * ONE_MIB,
  }),
  peers: def<PeerAddress[]>({
    key: 'anti_entropy.peer_list',
    aliases: ['replication.peer_list'],
    env: 'MERKLEKV_PEERS',
    flags: ['--peer'],
    arity: 'list',
    hint: '<host:port>',
    defaultText: 'none',
    description: 'Static peers (text-protocol host:port) to sync with, besides those found over NATS.',
    parse: v.peers,
    fallback: () => [],
  }),
} as const;

export type SettingId = keyof typeof S;

export const SETTINGS: readonly Setting<unknown>[] = Object.values(S);

/**
 * An unset http_port follows port at this distance: the defaults 7379 and 8080 keep their
 * relation, and two nodes on one host given only their MerkleKV ports (as the reference server's
 * config files give them: it had no HTTP API) do not both claim 8080.
 */
export const HTTP_PORT_OFFSET = 8080 - 7379;
/** How far above `port` an unset `memcached_port` is (the defaults' distance). */
export const MEMCACHED_PORT_OFFSET = 11211 - 7379;

/** `--config` and `MERKLEKV_CONFIG` are read before everything else, so they are not a Setting. */
export const CONFIG_FLAG = '--config';
export const CONFIG_ENV = 'MERKLEKV_CONFIG';

/**
 * Keys of the reference server's `[replication]` table that configured MQTT. They load without
 * error and are reported once, in one warning, as ignored. `client_id` joins them when
 * replication is disabled in that file (it names the node only when it replicated).
 */
export const MQTT_KEYS: readonly string[] = [
  'replication.mqtt_broker',
  'replication.mqtt_port',
  'replication.client_password',
];
/** Tables that only ever configured MQTT (the reference README's `[mqtt]`). */
export const MQTT_TABLES: readonly string[] = ['mqtt'];
export const CLIENT_ID_KEY = 'replication.client_id';
