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
          include: ['services/**/*.test.ts', 'sdk/typescript/src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          pool: 'forks',
          include: ['test/**/*.test.ts', 'sdk/typescript/test/**/*.test.ts'],
          globalSetup: ['test/setup/broker.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
