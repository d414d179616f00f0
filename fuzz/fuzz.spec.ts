/**
 * Every fuzz target with a modest count and a fixed seed (FC_SEED overrides it), so that CI
 * exercises the same properties that `npm run fuzz` runs by the million.
 */
import fc from 'fast-check';

import { FUZZ_TARGETS } from './targets.js';

const seed = process.env['FC_SEED'] !== undefined ? Number(process.env['FC_SEED']) : 0xf022;

describe('fuzz targets', () => {
  it.each(FUZZ_TARGETS.map((target) => [target.name, target] as const))('%s', (_name, target) => {
    fc.assert(target.property(), { numRuns: target.ciRuns, seed });
  });
});
