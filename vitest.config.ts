import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Tests run the sources: Thoth's packages resolve to their src/ (the `thoth-source` export condition), not to the
// compiled dist/ that `npm start` runs. Every project extends this root config for it.
const sources = { conditions: ['thoth-source', ...defaultServerConditions] };

// chDB segfaults when a worker thread that loaded it exits, so every project runs in the `forks` pool.
export default defineConfig({
  resolve: sources,
  ssr: { resolve: { conditions: sources.conditions, externalConditions: ['thoth-source'] } },
  test: {
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          pool: 'forks',
          // doc-links, import-boundaries and record-types read files only, offline-verifiers builds its evidence in
          // memory: they need no broker.
          include: [
            'services/**/*.test.ts',
            'sdk/typescript/src/**/*.test.ts',
            'test/doc-links.test.ts',
            'test/import-boundaries.test.ts',
            'test/record-types.test.ts',
            'test/offline-verifiers.test.ts',
          ],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          pool: 'forks',
          include: ['test/**/*.test.ts', 'sdk/typescript/test/**/*.test.ts'],
          exclude: [
            'test/console-e2e.test.ts',
            'test/console-sso-e2e.test.ts',
            'test/doc-links.test.ts',
            'test/import-boundaries.test.ts',
            'test/record-types.test.ts',
            'test/offline-verifiers.test.ts',
            'test/topology.test.ts',
          ],
          globalSetup: ['test/setup/build.ts', 'test/setup/broker.ts'],
          // Every Thoth process a test starts serves /metrics; on any free port unless the test names one.
          env: { THOTH_METRICS_PORT: '0' },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        // The browser run measures frame timing (no long task while 100,000 rows scroll): it runs after the other
        // projects, alone, so their load on the two cores is not measured as the console's.
        test: {
          name: 'browser',
          pool: 'forks',
          include: ['test/console-e2e.test.ts', 'test/console-sso-e2e.test.ts'],
          globalSetup: ['test/setup/build.ts'],
          fileParallelism: false,
          env: { THOTH_METRICS_PORT: '0' },
          sequence: { groupOrder: 1 },
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
      {
        extends: true,
        // Seven processes at once (two API replicas, four consumers, the shared ClickHouse): run last and alone,
        // so the timing-sensitive tests of the other projects (stall guards, frame timing) never share the two
        // cores with them. It uses the broker the integration project started.
        test: {
          name: 'topology',
          pool: 'forks',
          include: ['test/topology.test.ts'],
          fileParallelism: false,
          globalSetup: ['test/setup/build.ts', 'test/setup/broker.ts'],
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
