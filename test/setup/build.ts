import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * The process tests start the compiled Thoth (services/thoth/dist/main.js, as `npm start` does), so they must
 * never run an older build than the sources: `tsc -b` brings every package's dist/ up to date first (well under a
 * second when it already is). Once per run, for the projects that start processes.
 */
export default function setup(): void {
  if (process.env.THOTH_TEST_BUILT) return;
  execFileSync(
    process.execPath,
    [resolve(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'tsconfig.build.json'],
    {
      cwd: ROOT,
      stdio: 'inherit',
    },
  );
  process.env.THOTH_TEST_BUILT = '1';
}
