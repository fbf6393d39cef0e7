/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    '^oidc-provider-cimd$': '<rootDir>/packages/oidc-provider-cimd/src/index.ts',
    '^oidc-provider-cimd/check$': '<rootDir>/packages/oidc-provider-cimd/src/check/index.ts',
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
