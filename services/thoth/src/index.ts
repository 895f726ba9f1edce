// The package's one entry: the runtime that starts Thoth in either shape, and the `thoth` command.

export { runCli } from './cli/cli.ts';
export { type Runtime, startRuntime } from './runtime.ts';
