#!/usr/bin/env node
// The `thoth` command: the compiled CLI in ../dist (`npm ci` builds it; `npm run build` after changing the sources).
import { existsSync } from 'node:fs';

const CLI = new URL('../dist/cli/cli.js', import.meta.url);
if (!existsSync(CLI)) {
  process.stderr.write(
    'thoth: the CLI is not built yet: run `npm run build` in the repository (npm ci does it)\n',
  );
  process.exit(1);
}
const { runCli } = await import(CLI.href);
process.exitCode = await runCli(process.argv.slice(2));
