/**
 * The config loader fed hostile settings: TOML-ish files built from every known key (and its
 * reference-server aliases, in tables or dotted) with values of every TOML type and shape, plus
 * garbage lines; environment variables and command lines built from every variable and flag,
 * with random values and stray words. It returns a config or throws ConfigError with a one-line
 * message, nothing else; a config it returns has its ports in range and its hosted shards within
 * its shard count.
 */
import fc from 'fast-check';

import { CONFIG_REFERENCE, ConfigError, loadConfig, type LoadConfigInput } from '#config';

import { check, type FuzzTarget } from './target.js';

const KEYS = [...new Set(CONFIG_REFERENCE.flatMap((row) => [...(row.key === undefined ? [] : [row.key]), ...row.aliases]))];
const ENV_NAMES = [...CONFIG_REFERENCE.flatMap((row) => (row.env === undefined ? [] : [row.env])), 'MERKLEKV_UNKNOWN', 'PATH'];
const FLAGS = [...CONFIG_REFERENCE.flatMap((row) => row.flags), '--config', '--help', '-h', '--nope', '--', '-p'];
const CONFIG_PATH = '/srv/kv/merklekv.toml';

/** Text that settings commonly hold, and their near misses. */
const WORDS = [
  '0', '1', '-1', '7379', '65535', '65536', '99999999999999999999', '1e3', '0x10', '16', '4096', '4097', '1.5', ' 8 ',
  'true', 'false', 'yes', 'off', 'on', 'TRUE', '', ' ', '-', 'off', 'memory', 'rocksdb', 'sled', 'debug', 'trace',
  '64MiB', '1GiB', '10KB', '-5MiB', '1e400', '0-3,40', '3-1', '0-', ',', 'nats://n1:4222', 'tls://h:1', 'nats://', 'n1:4222,n2:4222',
  '[::1]:7401', 'host:0', 'host:70000', 'kv-a', 'a.b', 'ünï', '../x', '/abs/path', '~', '\u0000', '\n', 'a\nb', '"', '\\',
];
const textArb = fc.oneof(fc.constantFrom(...WORDS), fc.string({ maxLength: 12 }), fc.string({ unit: 'binary', maxLength: 8 }));

const tomlString = (s: string): string => JSON.stringify(s);
const tomlValueArb: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    textArb.map(tomlString),
    fc.constantFrom(...WORDS),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map(String),
    fc.integer({ min: -10, max: 70_000 }).map(String),
    fc.double().map((d) => (Number.isFinite(d) ? String(d) : d > 0 ? 'inf' : d < 0 ? '-inf' : 'nan')),
    fc.constantFrom('true', 'false', '1979-05-27T07:32:00Z', '07:32:00', '0x7f', '0o17', '1_000', "'literal'", '"""multi\nline"""', '[]', '{}'),
    fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(', ')}]`),
    fc.array(fc.tuple(fc.constantFrom('a', 'path', 'level', 'servers'), tie('value')), { maxLength: 2 }).map((kv) => `{ ${kv.map(([k, v]) => `${k} = ${v}`).join(', ')} }`),
  ),
})).value;

/** One line of a file: `key = value` with a known key (dotted or under its table), or noise. */
const lineArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...KEYS), tomlValueArb, fc.boolean()).map(([key, value, table]) => {
    const dot = key.indexOf('.');
    return table && dot > 0 ? `[${key.slice(0, dot)}]\n${key.slice(dot + 1)} = ${value}` : `${key} = ${value}`;
  }) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('unknown', 'mqtt.broker', 'replication.client_id', 'replication.topic_prefix', 'anti_entropy.peers'), tomlValueArb).map(([k, v]) => `${k} = ${v}`) },
  { weight: 1, arbitrary: fc.constantFrom('[storage]', '[network]', '[nats]', '[[nats]]', '[log', '# comment', '', 'port = 1\nport = 2', '\uFEFF', 'a.b.c.d = 1') },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
);

const fileArb = fc.array(lineArb, { maxLength: 10 }).map((lines) => lines.join('\n'));

/** Command-line words: flags, `--flag=value`, values and stray words. */
const argvArb = fc.array(
  fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...FLAGS) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...FLAGS), textArb).map(([flag, value]) => `${flag}=${value}`) },
    { weight: 3, arbitrary: textArb },
  ),
  { maxLength: 8 },
);

const envArb = fc.dictionary(fc.constantFrom(...ENV_NAMES, 'MERKLEKV_CONFIG'), textArb, { maxKeys: 6 });

interface ConfigInput {
  readonly file: string | null;
  readonly env: Record<string, string>;
  readonly argv: string[];
  readonly named: 'flag' | 'env' | 'none';
}

const inputArb: fc.Arbitrary<ConfigInput> = fc.record({
  file: fc.option(fileArb, { freq: 5 }),
  env: envArb,
  argv: argvArb,
  named: fc.constantFrom('flag' as const, 'env' as const, 'none' as const),
});

function property({ file, env, argv, named }: ConfigInput): void {
  const input: LoadConfigInput = {
    argv: named === 'flag' ? ['--config', CONFIG_PATH, ...argv] : argv,
    env: named === 'env' ? { ...env, MERKLEKV_CONFIG: CONFIG_PATH } : env,
    cwd: '/srv/kv',
    readFile: (path) => {
      if (file === null || path !== CONFIG_PATH) throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), { code: 'ENOENT' });
      return file;
    },
  };
  let loaded;
  try {
    loaded = loadConfig(input);
  } catch (err) {
    check(err instanceof ConfigError, () => `threw ${String(err)} (${(err as Error | undefined)?.constructor?.name}), not a ConfigError`);
    check(!/[\r\n\u0085\u2028\u2029]/.test(err.message), () => `the message is not one line: ${JSON.stringify(err.message)}`);
    return;
  }
  const { config } = loaded;
  for (const [name, port] of [['port', config.port], ['httpPort', config.httpPort], ['memcachedPort', config.memcachedPort]] as const) {
    check(port === null || (Number.isInteger(port) && port >= 0 && port <= 65_535), () => `${name} is ${String(port)}`);
  }
  check(Number.isInteger(config.shards) && config.shards >= 1, () => `shards is ${config.shards}`);
  check(config.split.hostedShards.every((s) => Number.isInteger(s) && s >= 0 && s < config.shards), () => `hosted shards ${config.split.hostedShards.join(',')} of ${config.shards}`);
}

export const configLoaderTarget: FuzzTarget = {
  name: 'config-loader',
  claim: 'loadConfig returns a config in range or throws a one-line ConfigError, never anything else',
  ciRuns: 1000,
  property: () => fc.property(inputArb, property),
};
