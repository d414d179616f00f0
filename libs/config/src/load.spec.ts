import { readFileSync } from 'node:fs';
import { ConfigError, DEFAULT_MAX_VALUE_BYTES, loadConfig, type LoadedConfig, type NodeConfig } from '#config';

const CWD = '/srv/kv';
const FILE = '/srv/kv/merklekv.toml';

const fixture = (name: string): string => readFileSync(new URL(`./testing/${name}`, import.meta.url), 'utf8');

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
}

/** Loads with an optional file at /srv/kv/merklekv.toml, named by --config unless told otherwise. */
function load(opts: { file?: string; env?: Record<string, string>; argv?: string[]; viaEnv?: boolean } = {}): LoadedConfig {
  const files = new Map<string, string>(opts.file === undefined ? [] : [[FILE, opts.file]]);
  const env = { ...(opts.viaEnv === true && opts.file !== undefined && { MERKLEKV_CONFIG: 'merklekv.toml' }), ...opts.env };
  const argv = [...(opts.viaEnv !== true && opts.file !== undefined ? ['--config', 'merklekv.toml'] : []), ...(opts.argv ?? [])];
  return loadConfig({
    argv,
    env,
    cwd: CWD,
    readFile: (p) => {
      const text = files.get(p);
      if (text === undefined) throw enoent(p);
      return text;
    },
  });
}

function failure(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('defaults', () => {
  it('starts a standalone node with no file, env or flag', () => {
    const { config, warnings, sources, configFile } = load();
    expect(config).toEqual<NodeConfig>({
      host: '127.0.0.1',
      port: 7379,
      httpPort: 8080,
      memcachedPort: 11211,
      engine: 'rocksdb',
      dataDir: '/srv/kv/data',
      shards: 16,
      split: { group: 'main', hostedShards: Array.from({ length: 16 }, (_, i) => i) },
      syncWrites: false,
      cacheBytes: 128 * 1024 * 1024,
      maxValueBytes: DEFAULT_MAX_VALUE_BYTES,
      clientIdleTimeoutSeconds: 300,
      maxConnections: 10_000,
      users: [],
      insecure: false,
      log: { level: 'info' },
      replication: { enabled: true },
      antiEntropy: { enabled: true, intervalSeconds: 30, peers: [], tombstoneGraceSeconds: 86_400, sessionBudgetBytes: 256 * 1024 * 1024 },
    });
    expect(config.nodeId).toBeUndefined();
    expect(config.nats).toBeUndefined();
    expect(warnings).toEqual([]);
    expect(configFile).toBeUndefined();
    expect(Object.values(sources).every((s) => s === 'default')).toBe(true);
  });

  it('accepts by default every value a 1 MiB text-protocol line can carry', () => {
    expect(DEFAULT_MAX_VALUE_BYTES).toBeGreaterThanOrEqual(1_048_576 - 'SET k \n'.length);
  });
});

/**
 * One row per setting family: a file line, an env value and a flag value, each different, and
 * how to read the result. Every row is checked at file, file+env and file+env+flag.
 */
interface PrecedenceCase {
  readonly key: string;
  readonly file: string;
  readonly env: readonly [string, string];
  readonly flag: readonly string[];
  readonly read: (c: NodeConfig) => unknown;
  readonly expected: readonly [unknown, unknown, unknown];
}

const NATS = 'nats = { servers = ["nats://f:4222"] }\n';

const precedence: readonly PrecedenceCase[] = [
  { key: 'node_id', file: 'node_id = "from-file"', env: ['MERKLEKV_NODE_ID', 'from-env'], flag: ['--node-id', 'from-flag'], read: (c) => c.nodeId, expected: ['from-file', 'from-env', 'from-flag'] },
  { key: 'host', file: 'host = "10.0.0.1"', env: ['MERKLEKV_HOST', '10.0.0.2'], flag: ['--host', '10.0.0.3'], read: (c) => c.host, expected: ['10.0.0.1', '10.0.0.2', '10.0.0.3'] },
  { key: 'port', file: 'port = 7001', env: ['MERKLEKV_PORT', '7002'], flag: ['--port', '7003'], read: (c) => c.port, expected: [7001, 7002, 7003] },
  { key: 'http_port', file: 'http_port = 8001', env: ['MERKLEKV_HTTP_PORT', '8002'], flag: ['--http-port=0'], read: (c) => c.httpPort, expected: [8001, 8002, 0] },
  { key: 'memcached_port', file: 'memcached_port = 9001', env: ['MERKLEKV_MEMCACHED_PORT', 'off'], flag: ['--memcached-port', '9003'], read: (c) => c.memcachedPort, expected: [9001, null, 9003] },
  { key: 'engine', file: 'engine = "memory"', env: ['MERKLEKV_ENGINE', 'rocksdb'], flag: ['--engine', 'rwlock'], read: (c) => c.engine, expected: ['memory', 'rocksdb', 'memory'] },
  { key: 'data_dir', file: 'data_dir = "f"', env: ['MERKLEKV_DATA_DIR', 'e'], flag: ['--data-dir', '/abs/x'], read: (c) => c.dataDir, expected: ['/srv/kv/f', '/srv/kv/e', '/abs/x'] },
  { key: 'shards', file: 'shards = 8', env: ['MERKLEKV_SHARDS', '32'], flag: ['--shards', '4096'], read: (c) => c.shards, expected: [8, 32, 4096] },
  { key: 'split.group', file: '[split]\ngroup = "f"', env: ['MERKLEKV_SPLIT_GROUP', 'e'], flag: ['--group', 'g'], read: (c) => c.split.group, expected: ['f', 'e', 'g'] },
  { key: 'split.hosted_shards', file: '[split]\nhosted_shards = ["1", "3-4"]', env: ['MERKLEKV_HOSTED_SHARDS', '7,2,2'], flag: ['--hosted-shards', '0-1'], read: (c) => c.split.hostedShards, expected: [[1, 3, 4], [2, 7], [0, 1]] },
  { key: 'sync_writes', file: 'sync_writes = true', env: ['MERKLEKV_SYNC_WRITES', 'false'], flag: ['--sync-writes'], read: (c) => c.syncWrites, expected: [true, false, true] },
  { key: 'cache_bytes', file: 'cache_bytes = 2000000', env: ['MERKLEKV_CACHE_BYTES', '256MiB'], flag: ['--cache-bytes', '1.5GiB'], read: (c) => c.cacheBytes, expected: [2_000_000, 256 * 1024 * 1024, 1.5 * 1024 ** 3] },
  { key: 'client_idle_timeout_seconds', file: 'client_idle_timeout_seconds = 0', env: ['MERKLEKV_CLIENT_IDLE_TIMEOUT', '60'], flag: ['--client-idle-timeout', '5'], read: (c) => c.clientIdleTimeoutSeconds, expected: [0, 60, 5] },
  { key: 'max_value_bytes', file: 'max_value_bytes = 1000', env: ['MERKLEKV_MAX_VALUE_BYTES', '2000'], flag: ['--max-value-bytes', '3000'], read: (c) => c.maxValueBytes, expected: [1000, 2000, 3000] },
  { key: 'max_connections', file: 'max_connections = 0', env: ['MERKLEKV_MAX_CONNECTIONS', '5'], flag: ['--max-connections', '6'], read: (c) => c.maxConnections, expected: [0, 5, 6] },
  { key: 'insecure', file: 'insecure = true', env: ['MERKLEKV_INSECURE', 'false'], flag: ['--insecure'], read: (c) => c.insecure, expected: [true, false, true] },
  { key: 'nats.user', file: '[nats]\nservers = ["nats://f:4222"]\nuser = "f"\npassword = "p"', env: ['MERKLEKV_NATS_USER', 'e'], flag: ['--nats-user', 'g'], read: (c) => c.nats?.user?.name, expected: ['f', 'e', 'g'] },
  { key: 'nats.nkey_file', file: '[nats]\nservers = ["nats://f:4222"]\nnkey_file = "f.nk"', env: ['MERKLEKV_NATS_NKEY', 'e.nk'], flag: ['--nats-nkey', 'g.nk'], read: (c) => c.nats?.nkeyFile, expected: ['/srv/kv/f.nk', '/srv/kv/e.nk', '/srv/kv/g.nk'] },
  { key: 'log.level', file: '[log]\nlevel = "debug"', env: ['MERKLEKV_LOG_LEVEL', 'WARN'], flag: ['--log-level', 'error'], read: (c) => c.log.level, expected: ['debug', 'warn', 'error'] },
  { key: 'log.file', file: '[log]\nfile = "f.log"', env: ['MERKLEKV_LOG_FILE', 'e.log'], flag: ['--log-file', '-'], read: (c) => c.log.file, expected: ['/srv/kv/f.log', '/srv/kv/e.log', undefined] },
  { key: 'nats.servers', file: '[nats]\nservers = ["nats://f:4222"]', env: ['MERKLEKV_NATS', 'nats://e1:4222, nats://e2:4222'], flag: ['--nats', 'g1:4222', '--nats=g2:4222,g3:4222'], read: (c) => c.nats?.servers, expected: [['nats://f:4222'], ['nats://e1:4222', 'nats://e2:4222'], ['g1:4222', 'g2:4222', 'g3:4222']] },
  { key: 'nats.cluster', file: `${NATS}[replication]\ntopic_prefix = "legacy"`, env: ['MERKLEKV_CLUSTER', 'env-c'], flag: ['--cluster', 'flag-c'], read: (c) => c.nats?.cluster, expected: ['legacy', 'env-c', 'flag-c'] },
  { key: 'nats.creds_file', file: '[nats]\nservers = ["nats://f:4222"]\ncreds_file = "f.creds"', env: ['MERKLEKV_NATS_CREDS', 'e.creds'], flag: ['--nats-creds', 'g.creds'], read: (c) => c.nats?.credsFile, expected: ['/srv/kv/f.creds', '/srv/kv/e.creds', '/srv/kv/g.creds'] },
  { key: 'replication.enabled', file: `${NATS}[replication]\nenabled = false`, env: ['MERKLEKV_REPLICATION', 'on'], flag: ['--replication', 'false'], read: (c) => c.replication.enabled, expected: [false, true, false] },
  { key: 'anti_entropy.enabled', file: '[anti_entropy]\nenabled = false', env: ['MERKLEKV_ANTI_ENTROPY', 'yes'], flag: ['--anti-entropy=0'], read: (c) => c.antiEntropy.enabled, expected: [false, true, false] },
  { key: 'anti_entropy.interval_seconds', file: 'sync_interval_seconds = 10', env: ['MERKLEKV_ANTI_ENTROPY_INTERVAL', '20'], flag: ['--anti-entropy-interval', '30'], read: (c) => c.antiEntropy.intervalSeconds, expected: [10, 20, 30] },
  { key: 'anti_entropy.tombstone_grace_seconds', file: '[anti_entropy]\ntombstone_grace_seconds = 600', env: ['MERKLEKV_TOMBSTONE_GRACE', '60'], flag: ['--tombstone-grace', '5'], read: (c) => c.antiEntropy.tombstoneGraceSeconds, expected: [600, 60, 5] },
  { key: 'anti_entropy.session_budget_bytes', file: '[anti_entropy]\nsession_budget_bytes = 1048576', env: ['MERKLEKV_ANTI_ENTROPY_BUDGET', '2097152'], flag: ['--anti-entropy-budget', '65536'], read: (c) => c.antiEntropy.sessionBudgetBytes, expected: [1_048_576, 2_097_152, 65_536] },
  { key: 'anti_entropy.peer_list', file: '[anti_entropy]\npeer_list = ["f:1"]', env: ['MERKLEKV_PEERS', 'e:2,[::1]:3'], flag: ['--peer', 'g:4'], read: (c) => c.antiEntropy.peers, expected: [[{ host: 'f', port: 1 }], [{ host: 'e', port: 2 }, { host: '::1', port: 3 }], [{ host: 'g', port: 4 }]] },
];

describe('precedence: defaults < file < environment < flags', () => {
  it.each(precedence)('$key', ({ key, file, env, flag, read, expected }) => {
    const [name, value] = env;
    const fromFile = load({ file });
    expect(read(fromFile.config)).toEqual(expected[0]);
    expect(fromFile.sources[key]).toMatch(/ in \/srv\/kv\/merklekv\.toml$/);

    const fromEnv = load({ file, env: { [name]: value } });
    expect(read(fromEnv.config)).toEqual(expected[1]);
    expect(fromEnv.sources[key]).toBe(name);

    const fromFlag = load({ file, env: { [name]: value }, argv: [...flag] });
    expect(read(fromFlag.config)).toEqual(expected[2]);
    expect(fromFlag.sources[key]).toBe(flag[0]?.split('=')[0]);
  });

  it('covers every setting that has an environment variable', () => {
    const { sources } = load();
    const withEnv = Object.keys(sources).filter((k) => !['nats.token', 'nats.password', 'tls.cert_file', 'tls.key_file', 'tls.ca_file', 'nats.tls_ca_file', 'nats.tls_cert_file', 'nats.tls_key_file', 'replication.topic_prefix'].includes(k));
    expect(precedence.map((c) => c.key).sort()).toEqual(withEnv.sort());
  });

  it('reads the file named by MERKLEKV_CONFIG, and --config wins over it', () => {
    expect(load({ file: 'port = 7001', viaEnv: true }).config.port).toBe(7001);
    const both = loadConfig({
      argv: ['--config', 'b.toml'],
      env: { MERKLEKV_CONFIG: 'a.toml' },
      cwd: CWD,
      readFile: (p) => (p === '/srv/kv/b.toml' ? 'port = 7002' : 'port = 7001'),
    });
    expect(both.config.port).toBe(7002);
    expect(both.configFile).toBe('/srv/kv/b.toml');
  });

  it('treats an empty environment variable as unset', () => {
    const { config, sources } = load({ file: 'port = 7001', env: { MERKLEKV_PORT: '', MERKLEKV_NATS: ' ', MERKLEKV_CONFIG: '' } });
    expect(config.port).toBe(7001);
    expect(config.nats).toBeUndefined();
    expect(sources['nats.servers']).toBe('default');
  });

  it('lets the last of a repeated scalar flag win, and --storage-path alias --data-dir', () => {
    const { config, sources } = load({ argv: ['--port', '1', '--port=2', '--data-dir', 'a', '--storage-path', 'b'] });
    expect(config.port).toBe(2);
    expect(config.dataDir).toBe('/srv/kv/b');
    expect(sources['data_dir']).toBe('--storage-path');
  });

  it('replaces a list from a lower layer instead of merging into it', () => {
    const { config } = load({ file: '[nats]\nservers = ["a:1", "b:2"]', env: { MERKLEKV_NATS: 'c:3' } });
    expect(config.nats?.servers).toEqual(['c:3']);
  });
});

describe('our own TOML format', () => {
  it('loads every setting of merklekv.toml, paths resolved against cwd', () => {
    const { config, warnings } = load({ file: fixture('merklekv.toml') });
    expect(config).toEqual<NodeConfig>({
      nodeId: 'kv-a',
      host: '::',
      port: 7400,
      httpPort: 8400,
      memcachedPort: null,
      engine: 'memory',
      dataDir: '/srv/kv/var/kv-a',
      shards: 64,
      split: { group: 'east', hostedShards: [0, 1, 2, 3, 40] },
      syncWrites: true,
      cacheBytes: 64 * 1024 * 1024,
      maxValueBytes: 65536,
      clientIdleTimeoutSeconds: 60,
      maxConnections: 50,
      users: [
        { name: 'app', tokens: [Buffer.from('1a7674eb4ee78df7e1ac439a93c3fa8e3c945784d4dec9fd8e3011738b2f1d62', 'hex')], permissions: [{ prefix: 'app:', access: 'write' }, { prefix: '', access: 'read' }] },
      ],
      tls: { certFile: '/srv/kv/tls/node.pem', keyFile: '/srv/kv/tls/node.key', caFile: '/srv/kv/tls/clients-ca.pem' },
      insecure: true,
      log: { level: 'debug', file: '/srv/kv/logs/kv-a.log' },
      nats: {
        servers: ['nats://n1:4222', 'tls://n2:4222'],
        cluster: 'blue',
        credsFile: '/srv/kv/secrets/kv.creds',
        token: 't0ken',
        user: { name: 'kv-a', password: 'nats-pw' },
        nkeyFile: '/srv/kv/secrets/kv-a.nk',
        tls: { caFile: '/srv/kv/tls/ca.pem', certFile: '/srv/kv/tls/kv-a.pem', keyFile: '/srv/kv/tls/kv-a.key' },
      },
      replication: { enabled: true },
      antiEntropy: {
        enabled: false,
        intervalSeconds: 120,
        peers: [
          { host: '::1', port: 7401 },
          { host: 'kv-b.internal', port: 7400 },
        ],
        tombstoneGraceSeconds: 86_400,
        sessionBudgetBytes: 256 * 1024 * 1024,
      },
    });
    expect(warnings).toEqual([]);
  });

  it('accepts dotted keys and numbers written as strings, as the reference config crate does', () => {
    const { config } = load({ file: 'log.level = "warn"\nport = "7001"\nsync_writes = "yes"\nhttp_port = false' });
    expect(config.log.level).toBe('warn');
    expect(config.port).toBe(7001);
    expect(config.syncWrites).toBe(true);
    expect(config.httpPort).toBeNull();
  });

  it('reads a file with a byte-order mark and CRLF line endings', () => {
    expect(load({ file: '\uFEFFport = 7001\r\n[log]\r\nlevel = "warn"\r\n' }).config).toMatchObject({ port: 7001, log: { level: 'warn' } });
  });

  it('keeps absolute paths and resolves relative ones against cwd, not against the file', () => {
    const { config } = loadConfig({
      argv: ['--config', 'etc/kv.toml', '--log-file', '../logs/kv.log'],
      env: {},
      cwd: '/srv/kv',
      readFile: () => 'data_dir = "./store"\n[nats]\nservers = ["n:4222"]\ncreds_file = "/etc/kv.creds"',
    });
    expect(config.dataDir).toBe('/srv/kv/store');
    expect(config.log.file).toBe('/srv/logs/kv.log');
    expect(config.nats?.credsFile).toBe('/etc/kv.creds');
  });
});

describe('the HTTP port', () => {
  it('follows the MerkleKV port when only that is set: port + 701, as 7379 and 8080 are', () => {
    expect(load().config).toMatchObject({ port: 7379, httpPort: 8080 });
    expect(load({ argv: ['--port', '7380'] }).config.httpPort).toBe(8081);
    expect(load({ env: { MERKLEKV_PORT: '0' } }).config.httpPort).toBe(0);
    const { config, sources, warnings } = load({ file: fixture('reference-config.toml') });
    expect(config).toMatchObject({ port: 7878, httpPort: 8579 });
    expect(sources['http_port']).toBe(`port + 701 (port in ${FILE})`);
    expect(warnings.filter((w) => w.includes('HTTP'))).toEqual([]);
  });

  it('is its own when set anywhere, whatever sets the MerkleKV port', () => {
    expect(load({ file: 'port = 7400\nhttp_port = 9000' }).config.httpPort).toBe(9000);
    expect(load({ file: 'port = 7400', argv: ['--http-port', 'off'] }).config.httpPort).toBeNull();
    expect(load({ argv: ['--port', '7400'], env: { MERKLEKV_HTTP_PORT: '0' } }).config.httpPort).toBe(0);
  });

  it('is off, with a warning, when port + 701 is no port', () => {
    const { config, warnings } = load({ argv: ['--port', '65000'] });
    expect(config.httpPort).toBeNull();
    expect(warnings).toContain('--port: port 65000 leaves no port 701 above it for HTTP: no HTTP listener (set http_port for one)');
  });
});

describe('the memcached port', () => {
  it('follows the MerkleKV port when only that is set: port + 3832, as 7379 and 11211 are', () => {
    expect(load().config).toMatchObject({ port: 7379, memcachedPort: 11211 });
    expect(load({ argv: ['--port', '7380'] }).config.memcachedPort).toBe(11212);
    expect(load({ env: { MERKLEKV_PORT: '0' } }).config.memcachedPort).toBe(0);
    const { config, sources } = load({ file: fixture('reference-config.toml') });
    expect(config).toMatchObject({ port: 7878, memcachedPort: 11710 });
    expect(sources['memcached_port']).toBe(`port + 3832 (port in ${FILE})`);
    expect(load({ argv: ['--port', '7400', '--memcached-port', 'off'] }).config.memcachedPort).toBeNull();
  });

  it('is off, with a warning, when port + 3832 is no port', () => {
    const { config, warnings } = load({ argv: ['--port', '62000'] });
    expect(config.memcachedPort).toBeNull();
    expect(warnings).toContain('--port: port 62000 leaves no port 3832 above it for memcached: no memcached listener (set memcached_port for one)');
  });
});

describe("the reference server's flat TOML", () => {
  it('loads its shipped config.toml unchanged, with one warning for the MQTT keys', () => {
    const { config, warnings, sources } = load({ file: fixture('reference-config.toml') });
    expect(config.host).toBe('127.0.0.1');
    expect(config.port).toBe(7878);
    expect(config.dataDir).toBe('/srv/kv/data');
    expect(sources['data_dir']).toBe(`storage_path in ${FILE}`);
    expect(config.antiEntropy.intervalSeconds).toBe(60);
    expect(sources['anti_entropy.interval_seconds']).toBe(`sync_interval_seconds in ${FILE}`);
    expect(config.replication).toEqual({ enabled: false, topicPrefix: 'merkle_kv' });
    // Replication was off in that file: its default client_id "node1" must not name the node.
    expect(config.nodeId).toBeUndefined();
    expect(config.nats).toBeUndefined();
    expect(config.engine).toBe('rocksdb');
    expect(warnings).toEqual([
      `${FILE}: replication.mqtt_broker, replication.mqtt_port, replication.client_id ignored: MQTT is replaced by NATS (set nats.servers, MERKLEKV_NATS or --nats)`,
    ]);
  });

  it('joins a NATS cluster named by its topic_prefix once given --nats, replication off as the file says', () => {
    const { config, warnings } = load({ file: fixture('reference-config.toml'), argv: ['--nats', 'nats://127.0.0.1:4222'] });
    expect(config.nats).toEqual({ servers: ['nats://127.0.0.1:4222'], cluster: 'merkle_kv' });
    expect(config.replication.enabled).toBe(false);
    expect(warnings).toContain(
      `replication.enabled in ${FILE}: replication is disabled: this node neither publishes nor applies changes over NATS until REPLICATE enable`,
    );
  });

  it('loads a full reference config: sled, anti-entropy peers, client_id as node id', () => {
    const { config, warnings } = load({ file: fixture('reference-cluster.toml') });
    expect(config).toMatchObject({
      nodeId: 'node-2',
      host: '0.0.0.0',
      port: 7380,
      engine: 'rocksdb',
      dataDir: '/var/lib/merkle_kv',
      replication: { enabled: true, topicPrefix: 'prod-merkle-kv' },
      antiEntropy: {
        enabled: true,
        intervalSeconds: 30,
        peers: [
          { host: '10.0.0.1', port: 7380 },
          { host: '10.0.0.3', port: 7380 },
        ],
      },
    });
    expect(warnings).toEqual([
      `engine in ${FILE}: engine "sled" (reference server) is served by RocksDB here; data files written by sled are not read`,
      `${FILE}: replication.mqtt_broker, replication.mqtt_port, replication.client_password ignored: MQTT is replaced by NATS (set nats.servers, MERKLEKV_NATS or --nats)`,
      `replication.enabled in ${FILE}: replication is enabled but no NATS servers are configured (nats.servers, MERKLEKV_NATS, --nats): the node runs standalone`,
    ]);
    const clustered = load({ file: fixture('reference-cluster.toml'), env: { MERKLEKV_NATS: 'nats://n:4222' } });
    expect(clustered.config.nats?.cluster).toBe('prod-merkle-kv');
    expect(clustered.sources['nats.cluster']).toBe(`replication.topic_prefix in ${FILE}`);
  });

  it("loads the README's node file: [network] and [logging] understood, the rest warned about", () => {
    const { config, warnings } = load({ file: fixture('reference-readme.toml') });
    expect(config).toMatchObject({
      nodeId: 'node-alpha',
      host: '127.0.0.1',
      port: 7878,
      log: { level: 'warn', file: '/srv/kv/logs/node-alpha.log' },
      antiEntropy: { enabled: true, intervalSeconds: 300 },
    });
    expect(config.antiEntropy.peers).toHaveLength(2);
    expect(warnings).toEqual([
      `${FILE}: [mqtt] ignored: MQTT is replaced by NATS (set nats.servers, MERKLEKV_NATS or --nats)`,
      `${FILE}: unknown key description ignored`,
      `${FILE}: unknown key network.max_connections ignored`,
      `${FILE}: unknown key anti_entropy.max_concurrent_syncs ignored`,
      `${FILE}: unknown key storage.memory_limit_mb ignored`,
      `${FILE}: unknown key logging.format ignored`,
    ]);
  });

  it('loads the [storage] table variant (engine, path) and its sled-only knobs as warnings', () => {
    const { config, warnings } = load({
      file: 'host = "127.0.0.1"\nport = 7379\nsync_interval_seconds = 60\n[storage]\nengine = "RwLock"\npath = "./data/merkle_kv.db"\ncompression = true\n',
    });
    expect(config.engine).toBe('memory');
    expect(config.dataDir).toBe('/srv/kv/data/merkle_kv.db');
    expect(warnings).toEqual([`${FILE}: unknown key storage.compression ignored`]);
  });

  it('prefers our key over a reference spelling in the same file, and says so when they differ', () => {
    const same = load({ file: 'data_dir = "d"\nstorage_path = "d"\n' });
    expect(same.warnings).toEqual([]);
    const differ = load({ file: 'storage_path = "old"\ndata_dir = "new"\n[anti_entropy]\ninterval_seconds = 5\n' + '' });
    expect(differ.config.dataDir).toBe('/srv/kv/new');
    expect(differ.warnings).toEqual([`${FILE}: storage_path is ignored: data_dir is also set, to a different value`]);
    const interval = load({ file: 'sync_interval_seconds = 60\n[anti_entropy]\ninterval_seconds = 5\n' });
    expect(interval.config.antiEntropy.intervalSeconds).toBe(5);
    expect(interval.warnings).toHaveLength(1);
  });

  it('prefers node_id over client_id, and ignores a client_id that cannot be a node id', () => {
    const both = load({ file: 'node_id = "a"\n[replication]\nenabled = true\nclient_id = "b"\n' });
    expect(both.config.nodeId).toBe('a');
    expect(both.warnings).toContain(`${FILE}: replication.client_id is ignored: node_id is also set`);
    const dotted = load({ file: '[replication]\nenabled = true\nclient_id = "node.1"\n' });
    expect(dotted.config.nodeId).toBeUndefined();
    expect(dotted.warnings[0]).toMatch(/^replication\.client_id in \/srv\/kv\/merklekv\.toml: cannot serve as the node id/);
  });
});

describe('warnings', () => {
  it('reports unknown sections, keys and MERKLEKV_ variables without failing', () => {
    const { warnings } = load({
      file: 'colour = "blue"\n[log]\nlevel = "info"\nformat = "json"\n[cache]\nsize = 1\n',
      env: { MERKLEKV_PORTT: '1', MERKLE_KV_NODE_ID: 'x', HOME: '/root' },
    });
    expect(warnings).toEqual([
      `${FILE}: unknown key colour ignored`,
      `${FILE}: unknown key log.format ignored`,
      `${FILE}: unknown key [cache] ignored`,
      'MERKLEKV_PORTT: unknown MERKLEKV_ environment variable ignored (see --help)',
      'MERKLE_KV_NODE_ID: not read (the variables are named MERKLEKV_*); did you mean MERKLEKV_NODE_ID?',
    ]);
  });

  it('says when NATS settings are given without servers', () => {
    const { warnings, config } = load({ env: { MERKLEKV_CLUSTER: 'blue' } });
    expect(config.nats).toBeUndefined();
    expect(warnings).toEqual([
      'nats.cluster set but no NATS servers configured (nats.servers, MERKLEKV_NATS, --nats): the node runs standalone',
    ]);
  });

  it('warns about a value limit that may not fit one NATS message', () => {
    const { warnings } = load({ argv: ['--max-value-bytes', String(4 * 1_048_576)] });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^--max-value-bytes: values over 1048576 bytes/);
  });

  it('maps the reference README log level "trace" to debug', () => {
    expect(load({ argv: ['--log-level', 'trace'] }).config.log.level).toBe('debug');
  });
});

/** Each row: what is given, the ConfigError's key and origin, and a piece of its message. */
const errors: readonly { name: string; given: Parameters<typeof load>[0]; key: string; origin: string; message: string }[] = [
  { name: 'a port that is not a number (flag)', given: { argv: ['--port', 'abc'] }, key: 'port', origin: '--port', message: 'invalid config: port: must be an integer 0-65535, got "abc" (from --port)' },
  { name: 'a port out of range (env)', given: { env: { MERKLEKV_PORT: '70000' } }, key: 'port', origin: 'MERKLEKV_PORT', message: 'invalid config: port: must be an integer 0-65535, got "70000" (from MERKLEKV_PORT)' },
  { name: 'a port of the wrong type (file)', given: { file: 'port = true' }, key: 'port', origin: `port in ${FILE}`, message: `invalid config: port: must be an integer 0-65535, got true (from port in ${FILE})` },
  { name: 'a fractional port (file alias)', given: { file: '[network]\nbind_port = 7379.5' }, key: 'port', origin: `network.bind_port in ${FILE}`, message: 'got 7379.5' },
  { name: 'a huge integer (file)', given: { file: 'shards = 99999999999999999999' }, key: 'shards', origin: `shards in ${FILE}`, message: 'must be an integer 1-4096, got 99999999999999999999' },
  { name: 'zero shards', given: { argv: ['--shards=0'] }, key: 'shards', origin: '--shards', message: 'must be an integer 1-4096' },
  { name: 'a bad http port', given: { env: { MERKLEKV_HTTP_PORT: '-2' } }, key: 'http_port', origin: 'MERKLEKV_HTTP_PORT', message: 'or -1 / off to disable' },
  { name: 'an unknown engine', given: { file: 'engine = "leveldb"' }, key: 'engine', origin: `engine in ${FILE}`, message: 'must be one of rocksdb, memory, got "leveldb"' },
  { name: 'a node id with a dot', given: { argv: ['--node-id', 'a.b'] }, key: 'node_id', origin: '--node-id', message: 'must be 1-64 characters from A-Z a-z 0-9 _ -, got "a.b"' },
  { name: 'a bad host', given: { env: { MERKLEKV_HOST: 'not a host' } }, key: 'host', origin: 'MERKLEKV_HOST', message: 'must be a hostname or an IP address' },
  { name: 'an empty data dir', given: { file: 'storage_path = ""' }, key: 'data_dir', origin: `storage_path in ${FILE}`, message: 'must be a non-empty path, got ""' },
  { name: 'a bad boolean', given: { env: { MERKLEKV_SYNC_WRITES: 'maybe' } }, key: 'sync_writes', origin: 'MERKLEKV_SYNC_WRITES', message: 'must be true or false' },
  { name: 'a bad log level', given: { file: '[log]\nlevel = "loud"' }, key: 'log.level', origin: `log.level in ${FILE}`, message: 'must be one of debug, info, warn, error' },
  { name: 'a bad NATS URL, naming the element', given: { argv: ['--nats', 'nats://ok:4222,http://web:80'] }, key: 'nats.servers', origin: '--nats', message: 'got "http://web:80"' },
  { name: 'a non-string NATS server in the file', given: { file: '[nats]\nservers = ["a:1", 2]' }, key: 'nats.servers', origin: `nats.servers in ${FILE}`, message: 'got 2' },
  { name: 'a bad cluster name', given: { env: { MERKLEKV_CLUSTER: 'a b' } }, key: 'nats.cluster', origin: 'MERKLEKV_CLUSTER', message: 'got "a b"' },
  { name: 'a peer without a port', given: { file: '[anti_entropy]\npeer_list = ["10.0.0.1"]' }, key: 'anti_entropy.peer_list', origin: `anti_entropy.peer_list in ${FILE}`, message: 'must be host:port' },
  { name: 'an unbracketed IPv6 peer', given: { env: { MERKLEKV_PEERS: '::1:7379' } }, key: 'anti_entropy.peer_list', origin: 'MERKLEKV_PEERS', message: 'got "::1:7379"' },
  { name: 'a zero interval', given: { file: 'sync_interval_seconds = 0' }, key: 'anti_entropy.interval_seconds', origin: `sync_interval_seconds in ${FILE}`, message: 'must be an integer 1-604800' },
  { name: 'a reversed shard range', given: { argv: ['--hosted-shards', '0-3,9-7'] }, key: 'split.hosted_shards', origin: '--hosted-shards', message: 'got "9-7"' },
  { name: 'a hosted shard that does not exist', given: { argv: ['--hosted-shards', '0-16'] }, key: 'split.hosted_shards', origin: '--hosted-shards', message: 'shard 16 does not exist: shards are 0-15' },
  { name: 'a bad split group', given: { env: { MERKLEKV_SPLIT_GROUP: 'a.b' } }, key: 'split.group', origin: 'MERKLEKV_SPLIT_GROUP', message: 'got "a.b"' },
  { name: 'a cache size with an unknown unit', given: { env: { MERKLEKV_CACHE_BYTES: '64 parsecs' } }, key: 'cache_bytes', origin: 'MERKLEKV_CACHE_BYTES', message: 'must be a size of' },
  { name: 'a cache under 1 MiB', given: { argv: ['--cache-bytes', '1000'] }, key: 'cache_bytes', origin: '--cache-bytes', message: 'must be a size of' },
  { name: 'a value limit of zero', given: { argv: ['--max-value-bytes', '0'] }, key: 'max_value_bytes', origin: '--max-value-bytes', message: 'must be an integer' },
  { name: 'a table where a value belongs', given: { file: 'log = "debug"' }, key: 'log', origin: `log in ${FILE}`, message: 'must be a table ([log])' },
  { name: 'a value where a table belongs', given: { file: '[log.level]\nx = 1' }, key: 'log.level', origin: `log.level in ${FILE}`, message: 'got a table' },
  { name: 'a bad value in an ignored alias', given: { file: 'data_dir = "d"\nstorage_path = 5' }, key: 'data_dir', origin: `storage_path in ${FILE}`, message: 'got 5' },
  { name: 'two listeners on one port', given: { argv: ['--memcached-port', '7379'] }, key: 'memcached_port', origin: '--memcached-port', message: 'invalid config: memcached_port: must differ from port (both 7379, port from default) (from --memcached-port)' },
  { name: 'two listeners on one set port', given: { argv: ['--port', '8080', '--http-port', '8080'] }, key: 'http_port', origin: '--http-port', message: 'must differ from port (both 8080, port from --port)' },
  { name: 'memcached on the HTTP port', given: { env: { MERKLEKV_MEMCACHED_PORT: '9000', MERKLEKV_HTTP_PORT: '9000' } }, key: 'memcached_port', origin: 'MERKLEKV_MEMCACHED_PORT', message: 'must differ from http_port (both 9000, http_port from MERKLEKV_HTTP_PORT)' },
  { name: 'a TLS cert without its key', given: { file: '[nats]\nservers = ["n:4222"]\ntls_cert_file = "c.pem"' }, key: 'nats.tls_key_file', origin: `nats.tls_cert_file in ${FILE}`, message: 'is required with nats.tls_cert_file' },
  { name: 'an unknown flag', given: { argv: ['--prot', '1'] }, key: '--prot', origin: 'command line', message: 'invalid config: --prot: unknown flag (see --help) (from command line)' },
  { name: 'a flag without its value', given: { argv: ['--port'] }, key: 'port', origin: '--port', message: 'invalid config: port: needs a value (from --port)' },
  { name: 'a flag followed by another flag', given: { argv: ['--data-dir', '--port', '1'] }, key: 'data_dir', origin: '--data-dir', message: 'needs a value' },
  { name: 'an empty --flag=', given: { argv: ['--node-id='] }, key: 'node_id', origin: '--node-id', message: 'needs a value' },
  { name: 'a bare argument', given: { argv: ['serve'] }, key: 'serve', origin: 'command line', message: 'unexpected argument' },
  // Found by the config-loader fuzz target: the message is printed as one line, whatever was typed.
  { name: 'an unknown flag holding a line break', given: { argv: ['-h=\n'] }, key: '-h=\n', origin: 'command line', message: 'invalid config: -h=\\n: unknown flag' },
  { name: 'a bare argument holding control characters', given: { argv: ['a\r\nb\u2028c\u001b'] }, key: 'a\r\nb\u2028c\u001b', origin: 'command line', message: 'a\\r\\nb\\u2028c\\u001b: unexpected argument' },
  { name: '--config without a path', given: { argv: ['--config'] }, key: 'config', origin: '--config', message: 'needs a value' },
  { name: 'a missing config file', given: { argv: ['--config', 'nope.toml'] }, key: 'config', origin: '--config', message: "cannot read /srv/kv/nope.toml: ENOENT: no such file or directory, open '/srv/kv/nope.toml'" },
  { name: 'a missing file named by MERKLEKV_CONFIG', given: { env: { MERKLEKV_CONFIG: '/etc/kv.toml' } }, key: 'config', origin: 'MERKLEKV_CONFIG', message: 'cannot read /etc/kv.toml' },
  { name: 'broken TOML, with line and column', given: { file: 'port = 7379\nhost = \n' }, key: 'config', origin: FILE, message: `invalid config: config: TOML syntax error at line 2, column 8: invalid value (from ${FILE})` },
  { name: 'a duplicate TOML key', given: { file: 'port = 1\nport = 2' }, key: 'config', origin: FILE, message: 'line 2, column 1' },
];

describe('errors name the key and the source', () => {
  it.each(errors)('$name', ({ given, key, origin, message }) => {
    const err = failure(() => load(given));
    expect(err.key).toBe(key);
    expect(err.origin).toBe(origin);
    expect(err.message).toContain(message);
    expect(err.message).toMatch(/^invalid config: /);
    expect(err.message).not.toContain('\n');
  });

  it('does not echo a secret', () => {
    const err = failure(() => load({ file: '[nats]\nservers = ["n:1"]\ntoken = "a\\nb"' }));
    expect(err.key).toBe('nats.token');
    expect(err.message).not.toContain('a\nb');
    expect(err.message).not.toContain('got');
  });

  it('fails on a bad file value even when a flag overrides it', () => {
    expect(failure(() => load({ file: 'port = "x"', argv: ['--port', '1'] })).origin).toBe(`port in ${FILE}`);
  });

  it('reports a file reader that throws a non-Error', () => {
    const err = failure(() =>
      loadConfig({
        argv: ['--config', 'x.toml'],
        env: {},
        cwd: CWD,
        readFile: () => {
          throw 'busy\nretry';
        },
      }),
    );
    expect(err.message).toBe('invalid config: config: cannot read /srv/kv/x.toml: busy retry (from --config)');
  });
});
