import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningHttpProxy, startHttpProxy } from '../services/mcp-proxy/src/http-proxy.ts';
import { type GovernanceOptions, normalizeScope } from '../services/mcp-proxy/src/proxy-options.ts';
import { DECISION_META_KEY } from '../services/mcp-proxy/src/refusal-result.ts';
import { freePort, waitFor } from './helpers.ts';
import {
  EVERYTHING_SERVER,
  governanceFor,
  type RunningThoth,
  resolveApproval,
  startThoth,
  textOf,
  trailOf,
} from './mcp-harness.ts';

/**
 * `thoth mcp proxy --listen … --upstream …` (Streamable HTTP) in front of the real server-everything over
 * HTTP, driven by the official SDK client, against a running Thoth.
 */

const policy = {
  version: 1,
  rules: [
    { id: 'approve-sums', condition: 'tool == "get-sum"', effect: 'STEP_UP', reason: 'sums need approval' },
    {
      id: 'redact-secrets',
      condition: 'tool == "echo" && args.message.contains("secret")',
      effect: 'MODIFY',
      reason: 'secrets are not echoed',
      modify: { set: { message: '[redacted]' } },
    },
  ],
};

let thoth: RunningThoth;
let upstream: ChildProcess;
let upstreamUrl: URL;
const proxies: RunningHttpProxy[] = [];
const warnings: string[] = [];

function governance(overrides: Partial<GovernanceOptions> = {}): GovernanceOptions {
  return governanceFor(thoth, {
    agentId: 'everything-http',
    approvedScope: normalizeScope(['echo', 'get-sum', 'tool_call:trigger-long-running-operation']),
    ...overrides,
  });
}

async function proxyTo(target: URL, overrides: Partial<GovernanceOptions> = {}, forwardAuth = false) {
  const proxy = await startHttpProxy(
    governance(overrides),
    { listenHost: '127.0.0.1', listenPort: 0, upstream: target, forwardAuth },
    (message) => warnings.push(message),
  );
  proxies.push(proxy);
  return proxy;
}

async function connect(
  proxy: RunningHttpProxy,
): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const transport = new StreamableHTTPClientTransport(new URL(proxy.url));
  const client = new Client({ name: 'thoth-mcp-http-test', version: '1.0.0' });
  await client.connect(transport);
  return { client, transport };
}

beforeAll(async () => {
  thoth = await startThoth(policy);
  const port = await freePort();
  upstream = spawn(process.execPath, [EVERYTHING_SERVER, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  upstream.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  await waitFor('server-everything to listen', () => output.includes('listening'), 20_000);
  upstreamUrl = new URL(`http://127.0.0.1:${port}/mcp`);
});

afterAll(async () => {
  for (const proxy of proxies) await proxy.close();
  upstream?.kill('SIGKILL');
  await thoth?.close();
});

describe('thoth mcp proxy (Streamable HTTP) in front of server-everything', () => {
  it('hides tools outside the scope, runs in-scope calls, refuses the others, rewrites MODIFY, holds STEP_UP', async () => {
    const proxy = await proxyTo(upstreamUrl);
    const { client, transport } = await connect(proxy);
    const sessionId = transport.sessionId ?? '';
    expect(sessionId).not.toBe('');

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual([
      'echo',
      'get-sum',
      'trigger-long-running-operation',
    ]);

    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hi' } }))).toBe('Echo: hi');
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'my secret' } }))).toBe(
      'Echo: [redacted]',
    );

    const refused = await client.callTool({ name: 'get-env', arguments: {} });
    expect(refused.isError).toBe(true);
    expect(refused.structuredContent).toMatchObject({
      decision: 'BLOCK',
      reason_code: 'policy_scope_violation',
    });
    expect(
      (refused._meta as Record<string, { violation_id: string }>)[DECISION_META_KEY]?.violation_id,
    ).toMatch(/.+/);
    expect(textOf(refused)).not.toContain('PATH');

    // STEP_UP: the POST's answer becomes an SSE stream carrying progress until a person approves.
    const progress: number[] = [];
    const held = client.callTool({ name: 'get-sum', arguments: { a: 2, b: 3 } }, undefined, {
      onprogress: (note) => progress.push(note.progress),
    });
    await resolveApproval(thoth, 'get-sum', 'approve');
    expect(textOf(await held)).toContain('5');
    expect(progress.length).toBeGreaterThan(0);

    // A long-running tool's own progress (SSE from the server) passes through.
    const serverProgress: number[] = [];
    await client.callTool(
      { name: 'trigger-long-running-operation', arguments: { duration: 0.2, steps: 2 } },
      undefined,
      {
        onprogress: (note) => serverProgress.push(note.progress),
      },
    );
    expect(serverProgress).toEqual([1, 2]);
    await transport.terminateSession();
    await client.close();

    // The MCP session is Thoth's session: each call's PRE, decision and POST (or BLOCK) are in its trail.
    await waitFor(
      'the trail',
      async () => {
        const rows = await trailOf(thoth, sessionId);
        return rows.filter((row) => row.event_type === 'TOOL_CALL_POST').length === 4;
      },
      15_000,
    );
    const rows = await trailOf(thoth, sessionId);
    const echo = rows
      .filter((row) => row.tool_name === 'echo')
      .map((row) => `${row.event_type}:${row.decision}`);
    expect(echo.sort()).toEqual(
      [
        'DECISION:ALLOW',
        'DECISION:MODIFY',
        'TOOL_CALL_POST:ALLOW',
        'TOOL_CALL_POST:MODIFY',
        'TOOL_CALL_PRE:',
        'TOOL_CALL_PRE:',
      ].sort(),
    );
    expect(
      rows
        .filter((row) => row.tool_name === 'get-env')
        .map((row) => row.event_type)
        .sort(),
    ).toEqual(['DECISION', 'TOOL_CALL_BLOCK', 'TOOL_CALL_PRE']);
  });

  it('fails open when Thoth is unreachable, and blocks with fail-closed', async () => {
    const down = new URL('http://127.0.0.1:9');
    const open = await connect(await proxyTo(upstreamUrl, { apiUrl: down }));
    expect(textOf(await open.client.callTool({ name: 'echo', arguments: { message: 'still here' } }))).toBe(
      'Echo: still here',
    );
    await open.client.close();
    expect(warnings.join('\n')).toContain('failing open');

    const closed = await connect(await proxyTo(upstreamUrl, { apiUrl: down, failClosed: true }));
    const refused = await closed.client.callTool({ name: 'echo', arguments: { message: 'x' } });
    await closed.client.close();
    expect(refused.isError).toBe(true);
    expect(textOf(refused)).toContain('enforcer_unavailable');
  });

  it("forwards the client's Authorization header only with --forward-auth", async () => {
    const seen: (string | undefined)[] = [];
    const recorder = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      req.on('end', () => res.writeHead(202).end());
    });
    await new Promise<void>((resolve) => recorder.listen(0, '127.0.0.1', resolve));
    const target = new URL(`http://127.0.0.1:${(recorder.address() as AddressInfo).port}/mcp`);
    const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' });
    for (const forwardAuth of [false, true]) {
      const proxy = await proxyTo(target, {}, forwardAuth);
      const r = await fetch(proxy.url, {
        method: 'POST',
        headers: {
          authorization: 'Bearer client-token',
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
        },
        body: note,
      });
      expect(r.status).toBe(202);
    }
    recorder.close();
    expect(seen).toEqual([undefined, 'Bearer client-token']);
  });
});
