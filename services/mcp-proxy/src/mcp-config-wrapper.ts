import { isObject, type JsonObject } from './json-rpc.ts';

/**
 * Rewrites a Claude Desktop–style config (`{"mcpServers": {name: {command, args, env}}}`, also used by
 * Cursor, Claude Code and others) so each stdio server runs through `thoth mcp proxy`, and back. Pure.
 */

export interface WrapSettings {
  /** How to start the proxy: e.g. [node, /abs/services/thoth/bin/thoth.mjs]. */
  proxyCommand: [string, ...string[]];
  /** Proxy flags given to every server (e.g. --tenant acme-corp, --enforcement step_up). */
  proxyFlags: string[];
  /** Put into each wrapped server's `env` (the proxy reads them; it withholds the key from the server). */
  env: Record<string, string>;
}

export interface WrapReport {
  config: JsonObject;
  wrapped: string[];
  skipped: { name: string; why: string }[];
}

const PROXY_MARK = ['mcp', 'proxy'];
/** Variables `wrapConfig` may add; removed again when a config is unwrapped without its backup. */
export const WRAPPER_ENV = ['THOTH_API_KEY', 'THOTH_API_URL', 'THOTH_TENANT_ID'];

export function wrapConfig(config: unknown, settings: WrapSettings): WrapReport {
  const servers = serversOf(config);
  const report: WrapReport = {
    config: { ...(config as JsonObject), mcpServers: { ...servers } },
    wrapped: [],
    skipped: [],
  };
  const target = report.config.mcpServers as JsonObject;
  for (const [name, entry] of Object.entries(servers)) {
    if (!isObject(entry) || typeof entry.command !== 'string') {
      report.skipped.push({
        name,
        why: 'not a stdio server (no "command"): use --listen/--upstream for remote servers',
      });
      continue;
    }
    if (wrappedOriginal(entry)) {
      report.skipped.push({ name, why: 'already runs through the Thoth proxy' });
      continue;
    }
    const args = Array.isArray(entry.args) ? entry.args.map(String) : [];
    const [command, ...prefix] = settings.proxyCommand;
    const env = { ...(isObject(entry.env) ? entry.env : {}), ...settings.env };
    target[name] = {
      ...entry,
      command,
      args: [
        ...prefix,
        ...PROXY_MARK,
        '--agent-id',
        name,
        ...settings.proxyFlags,
        '--',
        entry.command,
        ...args,
      ],
      ...(Object.keys(env).length > 0 ? { env } : {}),
    };
    report.wrapped.push(name);
  }
  return report;
}

export function unwrapConfig(config: unknown): { config: JsonObject; unwrapped: string[] } {
  const servers = serversOf(config);
  const result: JsonObject = { ...(config as JsonObject), mcpServers: { ...servers } };
  const target = result.mcpServers as JsonObject;
  const unwrapped: string[] = [];
  for (const [name, entry] of Object.entries(servers)) {
    if (!isObject(entry)) continue;
    const original = wrappedOriginal(entry);
    if (!original) continue;
    const { env: _env, ...rest } = entry;
    const env = isObject(entry.env)
      ? Object.fromEntries(Object.entries(entry.env).filter(([key]) => !WRAPPER_ENV.includes(key)))
      : {};
    target[name] = {
      ...rest,
      command: original.command,
      args: original.args,
      ...(Object.keys(env).length > 0 ? { env } : {}),
    };
    unwrapped.push(name);
  }
  return { config: result, unwrapped };
}

/** The server command inside a wrapped entry (after the proxy's `--`), or undefined when not wrapped. */
function wrappedOriginal(entry: JsonObject): { command: string; args: string[] } | undefined {
  if (!Array.isArray(entry.args)) return undefined;
  const args = entry.args.map(String);
  const mark = args.findIndex((arg, i) => arg === PROXY_MARK[0] && args[i + 1] === PROXY_MARK[1]);
  const separator = args.indexOf('--', mark);
  if (mark === -1 || separator === -1 || separator + 1 >= args.length) return undefined;
  const [command = '', ...rest] = args.slice(separator + 1);
  return { command, args: rest };
}

function serversOf(config: unknown): JsonObject {
  if (!isObject(config) || !isObject(config.mcpServers))
    throw new Error('not an MCP client config: no "mcpServers" object at the top level');
  return config.mcpServers;
}
