import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's package manifest, found upwards from here (sources and dist/ sit at different depths). */
function findManifest(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

const MANIFEST = findManifest(dirname(fileURLToPath(import.meta.url)));

/** The node's version, from the package manifest (VERSION, INFO). */
export const NODE_VERSION: string = (JSON.parse(readFileSync(MANIFEST, 'utf8')) as { version: string }).version;

/** The repository (or installed package) root: where files served as they are (the dashboard) live. */
export const PACKAGE_ROOT: string = dirname(MANIFEST);
