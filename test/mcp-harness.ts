import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { waitFor } from './helpers.ts';
import { ADMIN_TOKEN, startTrailApi, type TrailApi } from './trail-harness.ts';

/** What the MCP proxy tests share: a running Thoth with a trail, the real MCP servers, the proxy's command. */

import type { GovernanceOptions } from '../services/mcp-proxy/src/proxy-options.ts';

export const ROOT = resolve(import.meta.dirname, '..');
export const THOTH_BIN = join(ROOT, 'services/thoth/bin/thoth.mjs');
const require = createRequire(import.meta.url);
export const EVERYTHING_SERVER = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
export const FILESYSTEM_SERVER = require.resolve('@modelcontextprotocol/server-filesystem/dist/index.js');

export interface RunningThoth {
  api: TrailApi;
  url: string;
  close(): Promise<void>;
}

/** The proxy's governance options against `thoth`: progressive, fail-open, hidden listing; override the rest. */
export function governanceFor(
  thoth: RunningThoth,
  overrides: Partial<GovernanceOptions> & Pick<GovernanceOptions, 'agentId' | 'approvedScope'>,
): GovernanceOptions {
  return {
    tenantId: 'acme-corp',
    enforcement: 'progressive',
    userId: 'system',
    environment: 'prod',
    failClosed: false,
    listFilter: 'hide',
    apiUrl: new URL(thoth.url),
    apiKey: thoth.api.key,
    timeoutMs: 2_000,
    stepUpPollMs: 100,
    sessionId: undefined,
    ...overrides,
  };
}

/** A Thoth API on a real port with the given tenant policy, its audit trail in chDB. */
export async function startThoth(policy: unknown): Promise<RunningThoth> {
  const dir = mkdtempSync(join(tmpdir(), 'thoth-mcp-'));
  const policyFile = join(dir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(policy));
  const api = await startTrailApi({
    env: { THOTH_POLICY_FILE: policyFile, THOTH_RATE_LIMIT_PER_KEY: '100000' },
  });
  await api.service.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = api.service.app.server.address() as AddressInfo;
  return {
    api,
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      await api.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The proxy's flags for a test; `extra` adds or overrides. */
export function proxyArgs(
  thoth: { url: string; key: string },
  agentId: string,
  extra: string[] = [],
): string[] {
  return [
    THOTH_BIN,
    'mcp',
    'proxy',
    '--agent-id',
    agentId,
    '--tenant',
    'acme-corp',
    '--url',
    thoth.url,
    '--step-up-poll-ms',
    '100',
    '--timeout-ms',
    '2000',
    ...extra,
  ];
}

/** The official SDK client talking to `thoth mcp proxy … -- <server>` over stdio. */
export async function connectStdio(
  args: string[],
  options: { apiKey: string; capabilities?: ConstructorParameters<typeof Client>[1] },
): Promise<{ client: Client; stderr: () => string; close(): Promise<void> }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args,
    cwd: ROOT,
    env: { ...(process.env as Record<string, string>), THOTH_API_KEY: options.apiKey },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const client = new Client({ name: 'thoth-mcp-test', version: '1.0.0' }, options.capabilities);
  await client.connect(transport);
  return { client, stderr: () => stderr, close: () => client.close() };
}

/** The events of one session in the audit trail: `event_type`, `decision`, tool, trace id. */
export async function trailOf(
  thoth: RunningThoth,
  sessionId: string,
): Promise<
  { event_type: string; decision: string; tool_name: string; enforcement_trace_id: string; payload: string }[]
> {
  return thoth.api.store.select(
    `SELECT event_type, decision, tool_name, enforcement_trace_id, payload FROM events
     WHERE tenant_id = 'acme-corp' AND session_id = {session:String} ORDER BY occurred_at, event_type`,
    { session: sessionId },
  );
}

/** Waits for the first pending approval of `tool` and approves (or denies) it as a person would. */
export async function resolveApproval(
  thoth: RunningThoth,
  tool: string,
  decision: 'approve' | 'deny',
): Promise<void> {
  let id = '';
  await waitFor(
    `a pending approval of ${tool}`,
    async () => {
      const r = await fetch(`${thoth.url}/acme-corp/thoth/approvals?status=pending`, {
        headers: { authorization: `Bearer ${thoth.api.key}` },
      });
      const body = (await r.json()) as { data: { approval_id?: string; id?: string; tool_name?: string }[] };
      const found = body.data.find((approval) => approval.tool_name === tool);
      id = found?.approval_id ?? found?.id ?? '';
      return id !== '';
    },
    10_000,
  );
  const resolved = await fetch(`${thoth.url}/acme-corp/thoth/approvals/${id}/resolve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ decision, comment: 'test' }),
  });
  if (resolved.status !== 200)
    throw new Error(`resolve answered ${resolved.status}: ${await resolved.text()}`);
}

/** The first text of a tool result. */
export function textOf(result: unknown): string {
  const content = (result as { content?: { type: string; text?: string }[] }).content ?? [];
  return content.find((part) => part.type === 'text')?.text ?? '';
}

/**
 * An MCP client transport over the proxy's stdio that keeps every line exactly as sent and received, so a
 * test can compare bytes on both sides of the proxy (the SDK's own stdio transport hides them).
 */
export class RecordingStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  readonly sent: string[] = [];
  readonly received: string[] = [];
  stderr = '';
  private child: ChildProcess | undefined;
  private buffer = '';

  constructor(
    private readonly args: string[],
    private readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const child = spawn(process.execPath, this.args, {
      cwd: ROOT,
      env: this.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    child.stderr.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      this.buffer += chunk.toString('utf8');
      for (let newline = this.buffer.indexOf('\n'); newline !== -1; newline = this.buffer.indexOf('\n')) {
        const line = this.buffer.slice(0, newline);
        this.buffer = this.buffer.slice(newline + 1);
        this.received.push(line);
        try {
          this.onmessage?.(JSON.parse(line) as JSONRPCMessage);
        } catch (error) {
          this.onerror?.(error as Error);
        }
      }
    });
    child.on('exit', () => this.onclose?.());
  }

  async send(message: JSONRPCMessage): Promise<void> {
    const line = JSON.stringify(message);
    this.sent.push(line);
    this.child?.stdin?.write(`${line}\n`);
  }

  async close(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.stdin?.end();
    await exited;
  }
}
