import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { startHttpProxy } from './http-proxy.ts';
import { unwrapConfig, wrapConfig } from './mcp-config-wrapper.ts';
import { normalizeScope, PROXY_USAGE, ProxyUsageError, parseProxyArgs } from './proxy-options.ts';
import { stderrWarn } from './proxy-runtime.ts';
import { runStdioProxy } from './stdio-proxy.ts';

export interface McpCommandIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** How this `thoth` runs (node + its bin script): what wrap-config writes into client configs. */
  thothCommand: [string, ...string[]];
}

export const BACKUP_SUFFIX = '.thoth-backup';

/**
 * `thoth mcp <proxy|wrap-config|unwrap-config>`. Exit codes as the rest of the CLI: 0 ok, 1 failed, 2 bad
 * usage; `proxy` exits with the MCP server's code (stdio) or runs until a signal (HTTP).
 */
export async function runMcpCommand(argv: string[], io: McpCommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'proxy':
        return await proxy(rest, io);
      case 'wrap-config':
        return wrap(rest, io);
      case 'unwrap-config':
        return unwrap(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(PROXY_USAGE);
        return sub === undefined ? 2 : 0;
      default:
        throw new ProxyUsageError(`unknown mcp command "${sub}"`);
    }
  } catch (error) {
    if (error instanceof ProxyUsageError) {
      io.err(`thoth mcp: ${error.message}\n\n${PROXY_USAGE}`);
      return 2;
    }
    io.err(`thoth mcp: ${(error as Error).message}`);
    return 1;
  }
}

async function proxy(argv: string[], io: McpCommandIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    // stderr: in stdio mode stdout belongs to MCP, even for help.
    io.err(PROXY_USAGE);
    return 0;
  }
  const options = parseProxyArgs(argv, io.env);
  const { transport } = options;
  if (transport.kind === 'stdio') {
    return runStdioProxy(options, transport.command, transport.args, {
      stdin: process.stdin,
      stdout: process.stdout,
      warn: stderrWarn,
      env: io.env,
    });
  }
  const running = await startHttpProxy(options, transport, stderrWarn);
  stderrWarn(`[thoth] MCP proxy on ${running.url} → ${transport.upstream.href}`);
  return new Promise<number>((resolve) => {
    const stop = () => void running.close().then(() => resolve(0));
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

const WRAP_FLAGS = {
  tenant: { type: 'string' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
  enforcement: { type: 'string' },
  'list-filter': { type: 'string' },
  'user-id': { type: 'string' },
  'approved-scope': { type: 'string' },
  'fail-closed': { type: 'boolean' },
} as const;

function wrap(argv: string[], io: McpCommandIo): number {
  const { values, positionals } = parseFlags(argv, WRAP_FLAGS);
  const file = onlyFile(positionals, 'wrap-config');
  const config = readConfig(file);
  const flags: string[] = [];
  for (const name of ['enforcement', 'list-filter', 'user-id'] as const) {
    const value = values[name];
    if (value !== undefined) flags.push(`--${name}`, value);
  }
  if (values['approved-scope'] !== undefined)
    flags.push('--approved-scope', normalizeScope(values['approved-scope'].split(',')).join(','));
  if (values['fail-closed']) flags.push('--fail-closed');
  const env: Record<string, string> = {};
  if (values.tenant) env.THOTH_TENANT_ID = values.tenant;
  if (values.url) env.THOTH_API_URL = values.url;
  if (values['api-key']) env.THOTH_API_KEY = values['api-key'];
  const report = wrapConfig(config, { proxyCommand: io.thothCommand, proxyFlags: flags, env });
  for (const skipped of report.skipped) io.err(`skipped "${skipped.name}": ${skipped.why}`);
  if (report.wrapped.length === 0) {
    io.out(`${file}: nothing to wrap`);
    return 0;
  }
  // The first backup is the user's own config; a later wrap (after adding servers) must not overwrite it.
  if (!existsSync(file + BACKUP_SUFFIX)) copyFileSync(file, file + BACKUP_SUFFIX);
  writeFileSync(file, `${JSON.stringify(report.config, null, 2)}\n`);
  io.out(
    `${file}: ${report.wrapped.join(', ')} now run through the Thoth proxy (backup: ${file}${BACKUP_SUFFIX})`,
  );
  return 0;
}

function unwrap(argv: string[], io: McpCommandIo): number {
  const { positionals } = parseFlags(argv, {});
  const file = onlyFile(positionals, 'unwrap-config');
  const backup = file + BACKUP_SUFFIX;
  if (existsSync(backup)) {
    copyFileSync(backup, file);
    rmSync(backup);
    io.out(`${file}: restored from ${backup}`);
    return 0;
  }
  // No backup (deleted, or the file came from elsewhere): rebuild each server's own command from its entry.
  const { config, unwrapped } = unwrapConfig(readConfig(file));
  if (unwrapped.length === 0) {
    io.out(`${file}: no server runs through the Thoth proxy`);
    return 0;
  }
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  io.out(`${file}: ${unwrapped.join(', ')} restored to run directly`);
  return 0;
}

function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new ProxyUsageError((error as Error).message);
  }
}

function onlyFile(positionals: string[], command: string): string {
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) throw new ProxyUsageError(`${command} takes one config file`);
  return file;
}

function readConfig(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read ${file} as JSON: ${(error as Error).message}`);
  }
}
