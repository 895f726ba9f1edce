import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { deviceLogin, forgetSession, readSession, sessionFile } from './cli-session.ts';
import { ThothClient, ThothHttpError } from './thoth-client.ts';

/**
 * `thoth`: run Thoth, and manage it over its HTTP API (tenants, keys, policies, live decisions, evidence).
 * Exit codes: 0 done, 1 the API refused or a check failed (e.g. a broken evidence chain), 2 bad usage.
 */

const DEFAULT_URL = 'http://127.0.0.1:8080';

const HELP = `thoth — runtime governance for AI agents' tool calls

Usage: thoth <command> [options]

Commands:
  start                               run Thoth (same as npm start; configured by environment variables)
  tenants create <tenant> [--name N] [--rate-limit N]
  tenants list
  keys create --tenant T --name N [--permissions execute,write,read,admin] [--agent A] [--expires ISO] [--test]
  keys list --tenant T
  keys revoke --tenant T <key_id>
  policies apply --tenant T -f rules.yaml [--comment C]    a new policy version (every replica within 1 s)
  policies test --tenant T -f rules.yaml [--agent A] [--from ISO] [--to ISO] [--samples N]
                                      dry run against recorded decisions: "would have blocked N calls"
  policies list --tenant T             the rules in force and their source (file + hash, API version), then versions
  policies delete --tenant T
  tail [--agent A] [--events]         live decisions of the key's tenant (--events: every event too)
  siem backfill --sink ID --from TIME [--to TIME] [--config sinks.yaml] [--tenant T]
                                      send a SIEM sink the audit trail from TIME (read key of the sink's tenant)
  verify --tenant T [--agent A]       recompute the evidence chain; exit 1 if broken
  approvals list --tenant T [--status pending|approved|denied|expired]
  approvals show --tenant T <approval_id>      the held call, its rules (approvers, approvals required), votes
  approvals approve --tenant T <approval_id> [--comment C]
  approvals deny --tenant T <approval_id> [--comment C]
                                      vote as yourself (thoth login), an admin key or the admin token
  login --tenant T                    sign in with your identity provider (device code); commands then act as you
  logout                              end the session of thoth login
  mcp proxy|wrap-config|unwrap-config govern MCP servers' tool calls (thoth mcp --help, docs/mcp.md)

Options:
  --url URL            the Thoth API (env THOTH_URL, default ${DEFAULT_URL})
  --admin-token TOKEN  admin credential (env THOTH_ADMIN_TOKEN)
  --api-key KEY        API key (env THOTH_API_KEY); used where the admin token is not given
  without either: the session of thoth login (file THOTH_SESSION_FILE, default ~/.config/thoth/session.json)
  --json               machine-readable output (the API's JSON)
  -h, --help           this help

Exit codes: 0 ok, 1 refused by the API or a failed check, 2 bad usage.`;

/** The usage lines of one command (its lines of HELP, then the options), or the whole HELP if unknown. */
function commandHelp(command: string): string {
  const lines = HELP.split('\n');
  const commandsAt = lines.indexOf('Commands:');
  const optionsAt = lines.indexOf('Options:');
  const own: string[] = [];
  let inCommand = false;
  for (const line of lines.slice(commandsAt + 1, optionsAt)) {
    // A command's entry starts at two spaces; deeper-indented lines continue the entry above.
    if (/^ {2}\S/.test(line)) inCommand = line.trimStart().split(' ')[0] === command;
    if (inCommand && line.trim() !== '') own.push(line);
  }
  if (own.length === 0) return HELP;
  return [`Usage: thoth ${command} …`, '', ...own, '', ...lines.slice(optionsAt)].join('\n');
}

const OPTIONS = {
  url: { type: 'string' },
  'admin-token': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
  tenant: { type: 'string', short: 't' },
  name: { type: 'string' },
  'rate-limit': { type: 'string' },
  permissions: { type: 'string' },
  agent: { type: 'string' },
  expires: { type: 'string' },
  test: { type: 'boolean', default: false },
  file: { type: 'string', short: 'f' },
  comment: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  samples: { type: 'string' },
  events: { type: 'boolean', default: false },
  sink: { type: 'string' },
  config: { type: 'string' },
  status: { type: 'string' },
} as const;

class UsageError extends Error {}

export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  env: process.env,
};

type Values = ReturnType<typeof parse>['values'];

function parse(argv: string[]) {
  return parseArgs({ args: joinRelativeTimes(argv), options: OPTIONS, allowPositionals: true, strict: true });
}

/**
 * `--from -1h` as a person types it: node's parser takes `-1h` for an option, so a relative time after `--from`
 * or `--to` is joined to its flag (`--from=-1h`) first.
 */
function joinRelativeTimes(argv: string[]): string[] {
  const joined: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if ((arg === '--from' || arg === '--to') && next !== undefined && /^-\d+[smhdw]$/.test(next)) {
      joined.push(`${arg}=${next}`);
      i++;
    } else joined.push(arg);
  }
  return joined;
}

export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  // `mcp` has its own options (and passes a server command line through), so it is dispatched before parsing.
  if (argv[0] === 'mcp') {
    const { runMcpCommand } = await import('@thoth/mcp-proxy');
    const bin = fileURLToPath(new URL('../../bin/thoth.mjs', import.meta.url));
    return runMcpCommand(argv.slice(1), { ...io, thothCommand: [process.execPath, bin] });
  }
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.err(`thoth: ${(error as Error).message}\nRun thoth --help for usage.`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, sub, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') {
    // `thoth keys --help`, `thoth help keys`: that command's lines and the options; else the whole help.
    const topic = command === 'help' ? sub : command;
    io.out(topic === undefined ? HELP : commandHelp(topic));
    return command === undefined && !values.help ? 2 : 0;
  }
  if (command === 'start') {
    // Runs the server in this process until a signal stops it.
    await import('../main.ts');
    return new Promise<number>(() => {});
  }
  // An empty variable means "not set", as in the server's configuration (`THOTH_API_KEY= thoth …`).
  const fromEnv = (name: string) => io.env[name] || undefined;
  const url = values.url ?? fromEnv('THOTH_URL') ?? DEFAULT_URL;
  const sessionPath = sessionFile(io.env);
  const saved = readSession(sessionPath, url);
  const client = new ThothClient({
    url,
    adminToken: values['admin-token'] ?? fromEnv('THOTH_ADMIN_TOKEN'),
    apiKey: values['api-key'] ?? fromEnv('THOTH_API_KEY'),
    session: saved ? { token: saved.session_token, csrf: saved.csrf_token } : undefined,
  });
  const print = (json: unknown, human: () => string) =>
    io.out(values.json ? JSON.stringify(json, null, 2) : human());
  try {
    switch (command) {
      case 'tenants':
        return await tenants(client, sub, rest, values, print);
      case 'keys':
        return await keys(client, sub, rest, values, print);
      case 'policies':
        return await policies(client, sub, values, print);
      case 'verify':
        return await verify(client, values, print);
      case 'tail':
        return await tail(client, values, io);
      case 'siem':
        return await siem(client, sub, values, io);
      case 'approvals':
        return await approvals(client, sub, rest, values, print);
      case 'login': {
        const session = await deviceLogin(
          client,
          url,
          required(values.tenant, '--tenant'),
          sessionPath,
          io.out,
        );
        print(
          session.who,
          () => `signed in to tenant ${session.tenant} as ${session.who} until ${session.expires_at}`,
        );
        return 0;
      }
      case 'logout': {
        if (saved)
          await new ThothClient({
            url,
            session: { token: saved.session_token, csrf: saved.csrf_token },
          }).call('DELETE', '/console/api/session');
        forgetSession(sessionPath);
        print({ signed_out: true }, () =>
          saved ? `signed out of tenant ${saved.tenant}` : 'no session to end',
        );
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${command}"`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`thoth: ${error.message}\nRun thoth --help for usage.`);
      return 2;
    }
    if (error instanceof ThothHttpError) {
      if (values.json) io.out(JSON.stringify(error.body, null, 2));
      io.err(`thoth: ${error.message}`);
      return 1;
    }
    io.err(`thoth: ${(error as Error).message}`);
    return 1;
  }
}

type Print = (json: unknown, human: () => string) => void;
type Json = Record<string, unknown>;

function required(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`${what} is required`);
  return value;
}

const tenantPath = (values: Values, path: string) =>
  `/${encodeURIComponent(required(values.tenant, '--tenant'))}/thoth/${path}`;

function positiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${flag} must be a whole number`);
  return n;
}

function readPolicy(values: Values): string {
  const file = required(values.file, '-f <rules.yaml>');
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
}

function table(rows: Json[], columns: string[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((r) =>
    columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))),
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(columns), ...cells.map(line)].join('\n');
}

async function tenants(
  client: ThothClient,
  sub: string | undefined,
  rest: string[],
  values: Values,
  print: Print,
) {
  if (sub === 'create') {
    const tenant = required(rest[0] ?? values.tenant, '<tenant>');
    const body = (await client.call('POST', '/thoth/tenants', {
      body: {
        tenant_id: tenant,
        display_name: values.name,
        rate_limit_per_second: positiveInt(values['rate-limit'], '--rate-limit'),
      },
    })) as Json;
    print(body, () => `tenant ${body.tenant_id} created`);
    return 0;
  }
  if (sub === 'list') {
    const body = (await client.call('GET', '/thoth/tenants')) as { tenants: Json[] };
    print(body, () =>
      table(body.tenants, ['tenant_id', 'display_name', 'rate_limit_per_second', 'disabled', 'created_at']),
    );
    return 0;
  }
  throw new UsageError('tenants: create or list');
}

async function keys(
  client: ThothClient,
  sub: string | undefined,
  rest: string[],
  values: Values,
  print: Print,
) {
  if (sub === 'create') {
    const body = (await client.call('POST', tenantPath(values, 'api-keys'), {
      body: {
        name: required(values.name, '--name'),
        permissions: values.permissions?.split(',').map((p) => p.trim()),
        agent_id: values.agent,
        expires_at: values.expires,
        kind: values.test ? 'test' : 'live',
      },
    })) as Json;
    print(body, () =>
      [
        `API key ${body.key_id} (${(body.permissions as string[]).join(', ')}) for tenant ${body.tenant_id}:`,
        String(body.api_key),
        'Store it now: it is shown once.',
      ].join('\n'),
    );
    return 0;
  }
  if (sub === 'list') {
    const body = (await client.call('GET', tenantPath(values, 'api-keys'))) as { api_keys: Json[] };
    print(body, () =>
      table(
        body.api_keys.map((k) => ({ ...k, permissions: (k.permissions as string[]).join(',') })),
        ['key_id', 'name', 'key_prefix', 'permissions', 'agent_id', 'status', 'expires_at', 'last_used_at'],
      ),
    );
    return 0;
  }
  if (sub === 'revoke') {
    const keyId = required(rest[0], '<key_id>');
    const body = (await client.call(
      'DELETE',
      tenantPath(values, `api-keys/${encodeURIComponent(keyId)}`),
    )) as Json;
    print(body, () => `API key ${body.key_id} revoked at ${body.revoked_at}`);
    return 0;
  }
  throw new UsageError('keys: create, list or revoke');
}

async function policies(client: ThothClient, sub: string | undefined, values: Values, print: Print) {
  if (sub === 'apply') {
    const body = (await client.call('POST', tenantPath(values, 'policies'), {
      body: { policy: readPolicy(values), comment: values.comment },
    })) as Json;
    print(
      body,
      () => `policy version ${body.version} applied to tenant ${body.tenant_id} (${body.rule_count} rules)`,
    );
    return 0;
  }
  if (sub === 'test') {
    const body = (await client.call('POST', tenantPath(values, 'policies/dry-run'), {
      prefer: 'key',
      body: {
        policy: readPolicy(values),
        agent_id: values.agent,
        from: values.from,
        to: values.to,
        samples: positiveInt(values.samples, '--samples'),
      },
    })) as Json & {
      decisions: Record<string, number>;
      samples: Json[];
      not_replayable?: { without_replay_inputs: number; changed_without_replay_inputs: number };
    };
    const unreplayable = body.not_replayable?.without_replay_inputs ?? 0;
    print(body, () =>
      [
        `dry run over ${body.evaluated} recorded decisions: would have blocked ${body.would_block} calls, ` +
          `stepped up ${body.would_step_up}; ${body.changed} decided differently than recorded`,
        ...(unreplayable > 0
          ? [
              `could not replay faithfully: ${unreplayable} decisions were recorded without their replay inputs ` +
                `(approved scope, mode, session risk; older events), ${body.not_replayable?.changed_without_replay_inputs} ` +
                'of the differences among them',
            ]
          : []),
        `decisions: ${Object.entries(body.decisions)
          .map(([d, n]) => `${d} ${n}`)
          .join(', ')}`,
        `rule matches: ${JSON.stringify(body.rule_matches)}`,
        ...(body.samples.length > 0
          ? [
              'samples:',
              table(body.samples, [
                'occurred_at',
                'agent_id',
                'tool_name',
                'recorded_decision',
                'dry_run_decision',
                'matched_rule_ids',
              ]),
            ]
          : []),
      ].join('\n'),
    );
    return 0;
  }
  if (sub === 'list') {
    const body = (await client.call('GET', tenantPath(values, 'policies'), { prefer: 'key' })) as Json & {
      data: Json[];
      in_force?: PolicyInForceJson;
    };
    print(body, () =>
      [
        ...(body.in_force ? inForceLines(body.in_force) : [`current version ${body.current_version}`]),
        '',
        'versions managed through the API:',
        table(body.data, ['version', 'deleted', 'rule_count', 'created_at', 'created_by', 'comment']),
      ].join('\n'),
    );
    return 0;
  }
  if (sub === 'delete') {
    const body = (await client.call('DELETE', tenantPath(values, 'policies'))) as Json;
    print(body, () => `policy deleted (version ${body.version}): tenant back to the file/default policy`);
    return 0;
  }
  throw new UsageError('policies: apply, test, list or delete');
}

/** A vote's principal as a person reads it. */
function voter(principal: Json): string {
  if (principal.kind === 'person') return `${principal.email ?? principal.subject} (${principal.issuer})`;
  if (principal.kind === 'key') return `key ${principal.name} (${principal.key_id})`;
  return principal.name ? String(principal.name) : 'admin token';
}

async function approvals(
  client: ThothClient,
  sub: string | undefined,
  rest: string[],
  values: Values,
  print: Print,
) {
  if (sub === 'list') {
    const query = values.status ? `?status=${encodeURIComponent(values.status)}` : '';
    const body = (await client.call('GET', tenantPath(values, `approvals${query}`), { prefer: 'key' })) as {
      data: Json[];
      total: number;
    };
    print(body, () =>
      table(
        body.data.map((a) => ({
          ...a,
          votes: `${(a.votes as Json[]).filter((v) => v.decision === 'approve').length}/${a.approvals_required}`,
        })),
        [
          'id',
          'status',
          'agent_id',
          'user_id',
          'tool_name',
          'risk_score',
          'votes',
          'created_at',
          'expires_at',
        ],
      ),
    );
    return 0;
  }
  const id = required(rest[0], '<approval_id>');
  const path = tenantPath(values, `approvals/${encodeURIComponent(id)}`);
  if (sub === 'show') {
    const body = (await client.call('GET', path, { prefer: 'key' })) as Json;
    print(body, () => approvalLines(body).join('\n'));
    return 0;
  }
  if (sub === 'approve' || sub === 'deny') {
    const body = (await client.call('POST', `${path}/resolve`, {
      body: { decision: sub, comment: values.comment },
    })) as Json;
    print(body, () =>
      [
        body.status === 'pending'
          ? `vote recorded: ${(body.votes as Json[]).filter((v) => v.decision === 'approve').length} of ${body.approvals_required} approvals`
          : `approval ${body.id} ${body.status} by ${body.resolved_by}`,
      ].join('\n'),
    );
    return 0;
  }
  throw new UsageError('approvals: list, show, approve or deny');
}

function approvalLines(a: Json): string[] {
  const votes = a.votes as Json[];
  const approvers = a.approvers as string[];
  return [
    `approval ${a.id}: ${a.status}`,
    `  ${a.agent_id} calls ${a.tool_name} for ${a.user_id} (session ${a.session_id}), risk ${a.risk_score}`,
    `  reason: ${a.reason}`,
    `  arguments (redacted): ${JSON.stringify(a.args_preview)}`,
    `  arguments sha256: ${a.args_digest}; policy version ${a.policy_version}`,
    `  needs ${a.approvals_required} approval${a.approvals_required === 1 ? '' : 's'}` +
      (approvers.length > 0 ? ` from ${approvers.join(' or ')}` : '') +
      `; expires ${a.expires_at}`,
    ...(votes.length === 0
      ? ['  no votes yet']
      : votes.map(
          (v) =>
            `  ${v.decision} by ${voter(v.principal as Json)} at ${v.at}${v.comment ? `: ${v.comment}` : ''}`,
        )),
  ];
}

interface PolicyInForceJson {
  version: number;
  source: 'api' | 'file' | 'default';
  file: { path: string; sha256: string } | null;
  rule_count: number;
  rules: Json[];
}

/** The rules in force, where they come from, then one row per rule: what `policies list` shows first. */
function inForceLines(inForce: PolicyInForceJson): string[] {
  const origin =
    inForce.source === 'file' && inForce.file
      ? `the policy file ${inForce.file.path} (sha256 ${inForce.file.sha256.slice(0, 12)}…)`
      : inForce.source === 'api'
        ? 'the API (policies apply)'
        : 'the built-in default (no THOTH_POLICY_FILE, nothing applied through the API)';
  return [
    `in force: version ${inForce.version} from ${origin}, ${inForce.rule_count} rule${inForce.rule_count === 1 ? '' : 's'}`,
    table(
      inForce.rules.map((rule) => ({
        ...rule,
        tools: Array.isArray(rule.tools) ? rule.tools.join(',') : null,
      })),
      ['id', 'effect', 'tools', 'condition', 'reason_code'],
    ),
  ];
}

/**
 * `siem backfill`: the sink of the sinks file (--config, else THOTH_SIEM_CONFIG) gets the trail from --from,
 * read through the governance feed with a read key, formatted and filtered as the live exporter does.
 */
async function siem(client: ThothClient, sub: string | undefined, values: Values, io: CliIo) {
  if (sub !== 'backfill') throw new UsageError('siem: backfill');
  const file = required(
    values.config ?? (io.env.THOTH_SIEM_CONFIG || undefined),
    '--config (or THOTH_SIEM_CONFIG)',
  );
  const sinkId = required(values.sink, '--sink');
  const from = required(values.from, '--from');
  const { loadSinkConfig } = await import('@thoth/siem-export');
  const { backfillSink } = await import('@thoth/siem-export');
  const { createTransport } = await import('@thoth/siem-export');
  const { sinkFormat } = await import('@thoth/siem-export');
  const sinks = loadSinkConfig(file, io.env);
  const sink = sinks.find((s) => s.id === sinkId);
  if (!sink)
    throw new UsageError(`no sink "${sinkId}" in ${file} (sinks: ${sinks.map((s) => s.id).join(', ')})`);
  if (sink.tenant === '*' && !values.tenant)
    throw new UsageError(`sink "${sinkId}" exports every tenant: name the one to backfill with --tenant`);
  const tenant = encodeURIComponent(sink.tenant === '*' ? values.tenant! : sink.tenant);
  // Relative times (-7d) are resolved once, here: every page must ask for the same window.
  const { resolveTime, TIME_FORMS } = await import('@thoth/api');
  const now = Date.now();
  const window = (flag: string, text: string) => {
    const resolved = resolveTime(text, now);
    if (resolved === undefined) throw new UsageError(`${flag}: expected ${TIME_FORMS}`);
    return resolved;
  };
  const query = new URLSearchParams({
    from: window('--from', from),
    to: window('--to', values.to ?? 'now'),
    sort_by: 'occurred_at',
    sort_dir: 'asc',
    per_page: '500',
  });
  const transport = createTransport(sink, `thoth:${sinkFormat(sink)}`);
  try {
    const result = await backfillSink({
      sink,
      transport,
      readPage: async (offset) =>
        (await client.call('GET', `/${tenant}/thoth/governance/feed?${query}&offset=${offset}`, {
          prefer: 'key',
        })) as { data: Json[]; next_offset: number | null },
    });
    io.out(
      values.json
        ? JSON.stringify(result, null, 2)
        : `backfilled sink ${sinkId}: ${result.delivered} delivered, ${result.filtered} filtered out, ` +
            `${result.skipped.length} skipped, of ${result.read} events up to ${result.last_occurred_at ?? query.get('to')}`,
    );
    for (const skip of result.skipped.slice(0, 20))
      io.err(`skipped ${String(skip.event_id)}: ${skip.reason}`);
    return 0;
  } finally {
    await transport.close();
  }
}

async function verify(client: ThothClient, values: Values, print: Print) {
  const tenant = encodeURIComponent(required(values.tenant, '--tenant'));
  const query = values.agent ? `?agent_id=${encodeURIComponent(values.agent)}` : '';
  const body = (await client.call('GET', `/${tenant}/governance/evidence/verify-chain${query}`, {
    prefer: 'key',
  })) as Json;
  print(body, () =>
    body.verified
      ? `evidence chain verified: ${body.records_checked} records`
      : `evidence chain BROKEN: ${JSON.stringify(body.breach_detail)}`,
  );
  return body.verified ? 0 : 1;
}

/** Follows the live tail (Server-Sent Events) and prints each decision (each event too with --events). */
async function tail(client: ThothClient, values: Values, io: CliIo) {
  const query = values.agent ? `?agent_id=${encodeURIComponent(values.agent)}` : '';
  const response = await client.fetch('GET', `/v1/stream${query}`, { prefer: 'key' });
  if (!response.ok || !response.body) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {}
    throw new ThothHttpError(response.status, body);
  }
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf('\n\n');
      const type = /^event: (.*)$/m.exec(frame)?.[1];
      const data = /^data: (.*)$/m.exec(frame)?.[1];
      if (!type || !data || (type !== 'decision' && !values.events)) continue;
      if (values.json) io.out(data);
      else {
        const d = JSON.parse(data) as Json;
        io.out(
          [
            new Date(Number(d.occurred_at)).toISOString(),
            type === 'decision' ? d.decision : d.event_type,
            d.agent_id,
            d.tool_name,
            d.reason ?? '',
          ]
            .filter((x) => x !== undefined && x !== '')
            .join('  '),
        );
      }
    }
  }
  return 0;
}
