import { defineProject } from 'vitest/config';

/**
 * The console's component tests: React views rendered into happy-dom (a DOM without a browser; lighter than
 * jsdom and runs on Node 20) with @testing-library/react, fetch and EventSource stubbed. The root
 * vitest.config.ts lists this file among its projects; alone: `npx vitest run --config console/vitest.config.ts`.
 */
export default defineProject({
  test: {
    name: 'console',
    root: import.meta.dirname,
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
    setupFiles: ['src/test/setup.ts'],
  },
});
