// The fault suite (`npm run test:faults`): real processes killed, frozen, cut off and wiped.
// Kept out of `npm test`; one scenario at a time, so no scenario's load skews another's.
import { common } from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  testTimeout: 240_000,
  maxWorkers: 1,
  projects: [{ ...common, displayName: 'faults', testMatch: ['<rootDir>/test/faults/**/*.test.ts'] }],
};
