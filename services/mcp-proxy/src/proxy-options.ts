import { parseArgs } from 'node:util';

/** `thoth mcp proxy` options: flags first, then the environment (the SDKs' variables), then defaults. Pure. */

export type EnforcementMode = 'observe' | 'progressive' | 'step_up' | 'block';
export type ListFilter = 'hide' | 'annotate' | 'none';

export type ProxyTransport =
  | { kind: 'stdio'; command: string; args: string[] }
  | { kind: 'http'; listenHost: string; listenPort: number; upstream: URL; forwardAuth: boolean };

export interface GovernanceOptions {
  agentId: string;
  tenantId: string;
  /** Normalized: `tool_call:` prefixes stripped, empty entries dropped. Empty = no scope restriction. */
  approvedScope: string[];
  enforcement: EnforcementMode;
  userId: string;
  environment: string;
  failClosed: boolean;
  listFilter: ListFilter;
  apiUrl: URL;
  apiKey: string;
  /** Deadline of one enforce or hold request. */
  timeoutMs: number;
  /** How often a held (STEP_UP) call's hold is polled, and progress sent. */
  stepUpPollMs: number;
  /** Fixed MCP session id for stdio (default: a new UUID per proxy process). */
  sessionId: string | undefined;
}

export interface ProxyOptions extends GovernanceOptions {
  transport: ProxyTransport;
}

export const PROXY_USAGE = `Usage:
  thoth mcp proxy [options] -- <command> [args…]        stdio: run an MCP server as a child, govern its tool calls
  thoth mcp proxy [options] --listen HOST:PORT --upstream URL
                                                      Streamable HTTP: govern a remote MCP server
  thoth mcp wrap-config <file> [options]              route each server of an mcpServers config through the proxy
  thoth mcp unwrap-config <file>                      restore the config from its backup

Options (environment variable in parentheses):
  --agent-id ID            the agent's id (THOTH_AGENT_ID)            required
  --tenant T               tenant id (THOTH_TENANT_ID)                required
  --approved-scope a,b     tools in scope; "tool_call:" prefixes allowed (THOTH_APPROVED_SCOPE)
  --enforcement MODE       observe | progressive | step_up | block (THOTH_ENFORCEMENT, default progressive)
  --user-id U              user id (THOTH_USER_ID, default system)
  --environment E          environment (THOTH_ENVIRONMENT, default prod)
  --fail-closed            block tool calls while Thoth cannot be reached (THOTH_FAIL_CLOSED=true; default fail-open)
  --list-filter MODE       tools outside the scope in tools/list: hide | annotate | none (default hide)
  --url URL                Thoth API (THOTH_API_URL, default http://127.0.0.1:8080)
  --api-key KEY            Thoth API key with execute and write (THOTH_API_KEY)   required
  --session-id ID          session id sent to Thoth (stdio; default a new UUID per run)
  --timeout-ms N           deadline of one request to Thoth (THOTH_TIMEOUT_MS, default 5000)
  --step-up-poll-ms N      how often a held call is polled (THOTH_STEP_UP_POLL_MS, default 5000)
  --listen HOST:PORT       serve MCP Streamable HTTP here (with --upstream)
  --upstream URL           the remote MCP server's Streamable HTTP endpoint
  --forward-auth           pass the client's Authorization header upstream (default: dropped)`;

export const PROXY_FLAGS = {
  'agent-id': { type: 'string' },
  tenant: { type: 'string' },
  'approved-scope': { type: 'string' },
  enforcement: { type: 'string' },
  'user-id': { type: 'string' },
  environment: { type: 'string' },
  'fail-closed': { type: 'boolean' },
  'list-filter': { type: 'string' },
  url: { type: 'string' },
  'api-key': { type: 'string' },
  'session-id': { type: 'string' },
  'timeout-ms': { type: 'string' },
  'step-up-poll-ms': { type: 'string' },
  listen: { type: 'string' },
  upstream: { type: 'string' },
  'forward-auth': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export class ProxyUsageError extends Error {}

const MODES: readonly string[] = ['observe', 'progressive', 'step_up', 'block'];
const LIST_FILTERS: readonly string[] = ['hide', 'annotate', 'none'];
const TOOL_CALL_PREFIX = 'tool_call:';

/** The same normalization the server applies to `approved_scope`, so hiding and deciding agree. */
export function normalizeScope(entries: readonly string[]): string[] {
  const scope: string[] = [];
  for (const entry of entries) {
    let name = entry.trim();
    if (name.startsWith(TOOL_CALL_PREFIX)) name = name.slice(TOOL_CALL_PREFIX.length).trim();
    if (name !== '' && !scope.includes(name)) scope.push(name);
  }
  return scope;
}

export function parseProxyArgs(argv: string[], env: Record<string, string | undefined>): ProxyOptions {
  let parsed: ReturnType<typeof parseFlags>;
  try {
    parsed = parseFlags(argv);
  } catch (error) {
    throw new ProxyUsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const pick = (flag: string | undefined, variable: string): string | undefined =>
    flag ?? (env[variable] || undefined);

  const agentId = pick(values['agent-id'], 'THOTH_AGENT_ID');
  const tenantId = pick(values.tenant, 'THOTH_TENANT_ID');
  const apiKey = pick(values['api-key'], 'THOTH_API_KEY');
  if (!agentId) throw new ProxyUsageError('--agent-id (or THOTH_AGENT_ID) is required');
  if (!tenantId) throw new ProxyUsageError('--tenant (or THOTH_TENANT_ID) is required');
  if (!apiKey) throw new ProxyUsageError('--api-key (or THOTH_API_KEY) is required');

  const enforcement = pick(values.enforcement, 'THOTH_ENFORCEMENT') ?? 'progressive';
  if (!MODES.includes(enforcement))
    throw new ProxyUsageError(`--enforcement must be one of ${MODES.join(', ')}, not "${enforcement}"`);
  const listFilter = values['list-filter'] ?? 'hide';
  if (!LIST_FILTERS.includes(listFilter))
    throw new ProxyUsageError(`--list-filter must be one of ${LIST_FILTERS.join(', ')}, not "${listFilter}"`);

  const failClosedEnv = (env.THOTH_FAIL_CLOSED ?? '').toLowerCase();
  const governance: GovernanceOptions = {
    agentId,
    tenantId,
    approvedScope: normalizeScope((pick(values['approved-scope'], 'THOTH_APPROVED_SCOPE') ?? '').split(',')),
    enforcement: enforcement as EnforcementMode,
    userId: pick(values['user-id'], 'THOTH_USER_ID') ?? 'system',
    environment: pick(values.environment, 'THOTH_ENVIRONMENT') ?? 'prod',
    failClosed: values['fail-closed'] ?? (failClosedEnv === 'true' || failClosedEnv === '1'),
    listFilter: listFilter as ListFilter,
    apiUrl: httpUrl(pick(values.url, 'THOTH_API_URL') ?? 'http://127.0.0.1:8080', '--url'),
    apiKey,
    timeoutMs: positiveInt(pick(values['timeout-ms'], 'THOTH_TIMEOUT_MS'), 5_000, '--timeout-ms'),
    stepUpPollMs: positiveInt(
      pick(values['step-up-poll-ms'], 'THOTH_STEP_UP_POLL_MS'),
      5_000,
      '--step-up-poll-ms',
    ),
    sessionId: values['session-id'],
  };
  return { ...governance, transport: transportOf(values, positionals) };
}

function parseFlags(argv: string[]) {
  return parseArgs({ args: argv, options: PROXY_FLAGS, allowPositionals: true, strict: true });
}

function transportOf(values: ReturnType<typeof parseFlags>['values'], positionals: string[]): ProxyTransport {
  if (values.listen !== undefined || values.upstream !== undefined) {
    if (values.listen === undefined || values.upstream === undefined)
      throw new ProxyUsageError('--listen and --upstream go together');
    if (positionals.length > 0)
      throw new ProxyUsageError('give either a command (stdio) or --listen/--upstream (HTTP), not both');
    const match = /^(.*):(\d{1,5})$/.exec(values.listen);
    const port = match ? Number(match[2]) : Number.NaN;
    if (!match || port > 65_535)
      throw new ProxyUsageError(`--listen must be HOST:PORT, not "${values.listen}"`);
    return {
      kind: 'http',
      listenHost: (match[1] || '127.0.0.1').replace(/^\[(.*)\]$/, '$1'),
      listenPort: port,
      upstream: httpUrl(values.upstream, '--upstream'),
      forwardAuth: values['forward-auth'] ?? false,
    };
  }
  const [command, ...args] = positionals;
  if (!command)
    throw new ProxyUsageError('no MCP server command: thoth mcp proxy [options] -- <command> [args…]');
  return { kind: 'stdio', command, args };
}

function httpUrl(text: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProxyUsageError(`${what} is not a URL: ${text}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new ProxyUsageError(`${what} must be http(s): ${text}`);
  return url;
}

function positiveInt(text: string | undefined, fallback: number, what: string): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) throw new ProxyUsageError(`${what} must be a positive integer`);
  return value;
}
