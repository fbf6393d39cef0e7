import { resolve } from 'node:path';

// OIDC_PROVIDER_DIR=<folder that holds oidc-provider> runs the suite against that copy instead of the workspace's:
// CI installs the lowest version the peer range names there and runs the provider tests on it (.ci/lowest-peer).
const providerUnderTest = process.env.OIDC_PROVIDER_DIR
  ? {
      '^oidc-provider$': resolve(process.env.OIDC_PROVIDER_DIR, 'lib/index.js'),
      '^oidc-provider/(.*)$': `${resolve(process.env.OIDC_PROVIDER_DIR)}/$1`,
    }
  : {};

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
  // Servers and sockets opened by a test must be closed by it; this turns leaks into failures we can see.
  detectOpenHandles: false,
  forceExit: false,
};
