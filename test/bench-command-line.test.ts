import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '#testing';

/** Runs a built benchmark to its end. */
function runBuilt(name: string, args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot(), 'dist', 'bench', name, 'main.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Every `bench:<name>` script of package.json. */
const BENCHES = Object.keys((JSON.parse(readFileSync(join(repoRoot(), 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)
  .filter((script) => script.startsWith('bench:'))
  .map((script) => script.slice('bench:'.length));

describe('the benchmarks', () => {
  it('are all here', () => {
    expect(BENCHES.sort()).toEqual(['anti-entropy', 'capacity', 'flood', 'http', 'memcached', 'mst', 'protocol', 'replication']);
  });

  // A run that started would print progress on stderr, or its JSON on stdout, long after.
  it.each(BENCHES)('bench:%s --help prints its usage and exits 0, starting nothing', async (name) => {
    const { code, stdout, stderr } = await runBuilt(name, ['--help']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(stdout).toMatch(new RegExp(`^usage: npm run bench:${name} -- \\[flags\\]\\n(  --[a-z-]+ .*\\n)+  -h, --help `));
  });

  it.each(BENCHES)('bench:%s refuses a flag it does not know with exit code 2', async (name) => {
    const { code, stdout, stderr } = await runBuilt(name, ['--no-such-flag']);
    expect({ code, stdout }).toEqual({ code: 2, stdout: '' });
    expect(stderr).toContain('--no-such-flag');
  });

  it('bench:mst and bench:anti-entropy take their size as flags', async () => {
    const mst = await runBuilt('mst', ['--keys', '2000']);
    expect(mst.code).toBe(0);
    expect(JSON.parse(mst.stdout)).toMatchObject({ keys: 2000 });
    const antiEntropy = await runBuilt('anti-entropy', ['--keys', '2000', '--big-keys', '3000', '--concurrency', '4']);
    expect(antiEntropy.code).toBe(0);
    const lines = antiEntropy.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const { scenarios } = JSON.parse(lines[0]!) as { scenarios: { keys: number; converged: boolean }[] };
    expect(scenarios.map((s) => s.keys)).toEqual([2000, 2000, 2000, 2000, 2000, 2000, 3000]);
    expect(scenarios.every((s) => s.converged)).toBe(true);
  });
});
