#!/usr/bin/env node
// The `merklekv` command: runs the built CLI (npm install builds it; so does npm run build).
import { existsSync } from 'node:fs';

const main = new URL('../dist/apps/cli/src/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write('merklekv: not built yet: run `npm run build` in the repository first\n');
  process.exit(1);
}
await import(main.href);
