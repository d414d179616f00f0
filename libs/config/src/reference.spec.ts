import { CONFIG_REFERENCE, configReferenceMarkdown, loadConfig, type NodeConfig, usage } from '#config';

const defaults = loadConfig({ argv: [], env: {}, cwd: '/srv/kv', readFile: () => '' }).config;

describe('CONFIG_REFERENCE', () => {
  it('names each key, variable and flag once', () => {
    for (const field of ['key', 'env'] as const) {
      const values = CONFIG_REFERENCE.flatMap((row) => (row[field] === undefined ? [] : [row[field]]));
      expect(new Set(values).size).toBe(values.length);
    }
    const fileKeys = CONFIG_REFERENCE.flatMap((row) => (row.key === undefined ? [] : [row.key, ...row.aliases]));
    expect(new Set(fileKeys).size).toBe(fileKeys.length);
  });

  it('lists the reference server keys among the file keys', () => {
    const fileKeys = CONFIG_REFERENCE.flatMap((row) => (row.key === undefined ? [] : [row.key, ...row.aliases]));
    for (const key of [
      'host',
      'port',
      'storage_path',
      'engine',
      'sync_interval_seconds',
      'replication.enabled',
      'replication.topic_prefix',
      'anti_entropy.enabled',
      'anti_entropy.interval_seconds',
      'anti_entropy.peer_list',
    ]) {
      expect(fileKeys).toContain(key);
    }
  });

  it('documents the defaults the loader applies', () => {
    const read: Record<string, (c: NodeConfig) => unknown> = {
      host: (c) => c.host,
      port: (c) => c.port,
      http_port: (c) => c.httpPort,
      memcached_port: (c) => c.memcachedPort,
      engine: (c) => c.engine,
      shards: (c) => c.shards,
      sync_writes: (c) => c.syncWrites,
      max_value_bytes: (c) => c.maxValueBytes,
      'log.level': (c) => c.log.level,
      'replication.enabled': (c) => c.replication.enabled,
      'anti_entropy.enabled': (c) => c.antiEntropy.enabled,
      'anti_entropy.interval_seconds': (c) => c.antiEntropy.intervalSeconds,
      'anti_entropy.tombstone_grace_seconds': (c) => c.antiEntropy.tombstoneGraceSeconds,
      'anti_entropy.session_budget_bytes': (c) => c.antiEntropy.sessionBudgetBytes,
    };
    for (const [key, get] of Object.entries(read)) {
      const row = CONFIG_REFERENCE.find((r) => r.key === key);
      expect([key, row?.default]).toEqual([key, String(get(defaults))]);
    }
  });
});

describe('usage', () => {
  const text = usage();

  it('mentions every flag, variable and file key, and how precedence works', () => {
    expect(text.startsWith('Usage: merklekv [options]\n')).toBe(true);
    expect(text.replace(/\s+/g, ' ')).toContain('its default, the TOML file named by --config or MERKLEKV_CONFIG, a MERKLEKV_* environment variable, a flag.');
    for (const row of CONFIG_REFERENCE) {
      for (const flag of row.flags) expect(text).toContain(flag);
      if (row.env !== undefined) expect(text).toContain(row.env);
      for (const key of row.key === undefined ? [] : [row.key, ...row.aliases]) expect(text).toContain(key);
    }
    expect(text).toContain('--help');
  });

  it('fits in 100 columns', () => {
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });
});

describe('configReferenceMarkdown', () => {
  it('has a header and one five-cell row per setting', () => {
    const lines = configReferenceMarkdown().trimEnd().split('\n');
    expect(lines).toHaveLength(CONFIG_REFERENCE.length + 2);
    for (const line of lines) {
      expect(line.replace(/\\\|/g, '').split('|')).toHaveLength(7);
    }
    expect(lines).toContain(
      '| `port` (also `network.bind_port`) | `MERKLEKV_PORT` | `--port <port>` | 7379 | MerkleKV text protocol port; 0 picks a free port. |',
    );
  });
});
