// The package's one entry: what the Thoth runtime (services/thoth) starts and the CLI calls.
export { runMcpCommand } from './mcp-command.ts';
