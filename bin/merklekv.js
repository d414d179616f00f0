#!/usr/bin/env node
// The `merklekv` command: runs the built CLI, building the repository first if it never was
// (right after `npm install`); after changing the sources, `npm run build`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = new URL('../dist/apps/cli/src/main.js', import.meta.url);
if (!existsSync(main)) {
  let tsc;
  try {
    tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('merklekv: not built, and TypeScript is not installed: run `npm install && npm run build` in the repository\n');
    process.exit(1);
  }
  process.stderr.write('merklekv: building the repository (first run)...\n');
  const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
await import(main.href);
