import { defineConfig } from 'vitest/config';

// chDB segfaults when a worker thread that loaded it exits, so every project runs in the `forks` pool.
export default defineConfig({
  test: {
    pool: 'forks',
    projects: [
      {
        test: {
          name: 'unit',
          pool: 'forks',
          // doc-links and import-boundaries read files only: they need no broker.
          include: [
            'services/**/*.test.ts',
            'sdk/typescript/src/**/*.test.ts',
            'test/doc-links.test.ts',
            'test/import-boundaries.test.ts',
          ],
        },
      },
      {
        test: {
          name: 'integration',
          pool: 'forks',
          include: ['test/**/*.test.ts', 'sdk/typescript/test/**/*.test.ts'],
          exclude: [
            'test/console-e2e.test.ts',
            'test/console-sso-e2e.test.ts',
            'test/doc-links.test.ts',
            'test/import-boundaries.test.ts',
            'test/topology.test.ts',
          ],
          globalSetup: ['test/setup/broker.ts'],
          // Every Thoth process a test starts serves /metrics; on any free port unless the test names one.
          env: { THOTH_METRICS_PORT: '0' },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // The browser run measures frame timing (no long task while 100,000 rows scroll): it runs after the other
        // projects, alone, so their load on the two cores is not measured as the console's.
        test: {
          name: 'browser',
          pool: 'forks',
          include: ['test/console-e2e.test.ts', 'test/console-sso-e2e.test.ts'],
          fileParallelism: false,
          env: { THOTH_METRICS_PORT: '0' },
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        // Seven processes at once (two API replicas, four consumers, the shared ClickHouse): run last and alone,
        // so the timing-sensitive tests of the other projects (stall guards, frame timing) never share the two
        // cores with them. It uses the broker the integration project started.
        test: {
          name: 'topology',
          pool: 'forks',
          include: ['test/topology.test.ts'],
          fileParallelism: false,
          globalSetup: ['test/setup/broker.ts'],
          env: { THOTH_METRICS_PORT: '0' },
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
      // The console's component tests: React views in happy-dom (console/vitest.config.ts).
      'console/vitest.config.ts',
    ],
  },
});
