#!/usr/bin/env node
// The `thoth` command: the compiled CLI in ../dist (`npm ci` builds it; `npm run build` after changing the sources).
let cli;
try {
  cli = await import('../dist/cli/cli.js');
} catch (error) {
  if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !String(error.message).includes('/dist/')) throw error;
  process.stderr.write(
    'thoth: the CLI is not built yet: run `npm run build` in the repository (npm ci does it)\n',
  );
  process.exit(1);
}
process.exitCode = await cli.runCli(process.argv.slice(2));
