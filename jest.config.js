// ESM TypeScript through @swc/jest. Library imports (#crdt, #mst, ...) resolve to sources.
import { readFileSync } from 'node:fs';

// Only our own `#name` imports: dependencies have package-internal ones (#platform) of their own.
const libs = Object.keys(JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')).imports).map((name) => name.slice(1));

const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
    },
    module: { type: 'es6' },
  },
];

export const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform: { '^.+\\.ts$': swc },
  moduleNameMapper: {
    [`^#(${libs.join('|')})$`]: '<rootDir>/libs/$1/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testEnvironment: 'node',
};

/** @type {import('jest').Config} */
export default {
  // Integration tests start processes and wait for clusters to converge.
  testTimeout: 90_000,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{libs,apps,bench,docker}/**/*.spec.ts'] },
    // The fault suite has a config of its own (jest.faults.config.js, `npm run test:faults`).
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/**/*.test.ts'], testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/faults/'] },
    // The fuzz targets with a few hundred inputs each; `npm run fuzz` runs them by the million.
    { ...common, displayName: 'fuzz', testMatch: ['<rootDir>/fuzz/**/*.spec.ts'] },
  ],
};
