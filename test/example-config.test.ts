import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_REFERENCE, type LoadedConfig, loadConfig } from '#config';
import { makeTempDir, removeDir, repoRoot, startNode } from '#testing';
import { RawClient } from './support/raw-client.js';

/** The repository's example config file, which the README's `--config merklekv.toml` names. */
const EXAMPLE = 'merklekv.toml';

function load(argv: readonly string[], files: Readonly<Record<string, string>> = {}): LoadedConfig {
  const root = repoRoot();
  return loadConfig({
    argv,
    env: {},
    cwd: root,
    readFile: (path) => files[path] ?? readFileSync(path, 'utf8'),
  });
}

describe('the example merklekv.toml', () => {
  const text = readFileSync(join(repoRoot(), EXAMPLE), 'utf8');
  /** The file with every `# key = value` line switched on: the settings that have no default. */
  const uncommented = text.replace(/^# ([a-z_]+ = )/gm, '$1');

  it('loads with the real loader, without a warning, to exactly the defaults', () => {
    const example = load(['--config', EXAMPLE]);
    expect(example.warnings).toEqual([]);
    expect(example.config).toEqual(load([]).config);
  });

  it('names every setting, and its commented lines load too', () => {
    const path = join(repoRoot(), 'uncommented.toml');
    const everything = load(['--config', path], { [path]: uncommented });
    expect(everything.warnings).toEqual([]);
    const keys = CONFIG_REFERENCE.flatMap((row) => (row.key === undefined ? [] : [row.key]));
    expect(keys.filter((key) => !everything.sources[key]?.endsWith(`in ${path}`))).toEqual([]);
  });

  it("starts a node as the README's command does, with its ports moved to free ones", async () => {
    // Flags override the file's documented ports and data directory: a test never binds 7379 or 8080.
    const dataDir = await makeTempDir('example-config');
    try {
      await using node = await startNode({
        cwd: repoRoot(),
        defaultFlags: false,
        args: ['--config', EXAMPLE, '--port', '0', '--http-port', '0', '--memcached-port', 'off', '--data-dir', dataDir],
      });
      await using client = await RawClient.connect(node.ports.merklekv);
      expect(await client.exchange('SET configured yes\r\n', 'OK\r\n')).toBe('OK\r\n');
      expect(node.logs()).not.toContain('"level":"warn"');
      expect(await node.stop()).toBe(0);
    } finally {
      await removeDir(dataDir);
    }
  });
});

describe('the README', () => {
  it('names only config files that exist at the repository root', () => {
    const readme = readFileSync(join(repoRoot(), 'README.md'), 'utf8');
    const named = [...readme.matchAll(/--config (\S+\.toml)/g)].map((match) => match[1]!);
    expect(named).toContain(EXAMPLE);
    expect(named.filter((file) => !existsSync(join(repoRoot(), file)))).toEqual([]);
  });
});
