#!/usr/bin/env node
// The `thoth` command. No build step: tsx runs the TypeScript sources directly.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src/cli/cli.ts');
process.exitCode = await runCli(process.argv.slice(2));
