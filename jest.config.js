import { resolve } from 'node:path';

// OIDC_PROVIDER_DIR=<folder that holds oidc-provider> runs the suite against that copy instead of the workspace's:
// CI installs the lowest version the peer range names there and runs the provider tests on it (.ci/lowest-peer).
// KEYV_REDIS_DIR and KEYV_DIR do the same for @keyv/redis (peer range) and keyv (dependency range); modules those
// copies import resolve from their own folder (the floor's @redis/client, say).
const dirs = (name, dir, entry) =>
  dir ? { [`^${name}$`]: resolve(dir, entry), [`^${name}/(.*)$`]: `${resolve(dir)}/$1` } : {};
const providerUnderTest = {
  ...dirs('oidc-provider', process.env.OIDC_PROVIDER_DIR, 'lib/index.js'),
  ...dirs('@keyv/redis', process.env.KEYV_REDIS_DIR, 'dist/index.js'),
  ...dirs('keyv', process.env.KEYV_DIR, 'dist/index.js'),
};

/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    ...providerUnderTest,
    '^oidc-provider-cimd$': '<rootDir>/packages/oidc-provider-cimd/src/index.ts',
    '^oidc-provider-cimd/check$': '<rootDir>/packages/oidc-provider-cimd/src/check/index.ts',
    '^oidc-provider-cimd/metrics$': '<rootDir>/packages/oidc-provider-cimd/src/observe/metrics.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/test/tsconfig.json' }],
  },
  testTimeout: 30000,
  setupFiles: ['<rootDir>/test/setup-console.ts'],
  // Servers and sockets opened by a test must be closed by it: Jest is not forced to exit, so a leak keeps it alive
  // after its last test, and says so ("Jest did not exit ..."). CI runs Jest through .ci/jest.mjs, which turns that
  // into a failure within seconds (and bounds the whole run), so a leak can never hang CI. detectOpenHandles
  // (which names the leak, at the cost of running every file in band) is for finding one: see .ci/jest.mjs.
  detectOpenHandles: false,
  forceExit: false,
};
