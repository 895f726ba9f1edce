import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { signInThroughIdp, startTestIdp, type TestIdp } from './oidc-idp.ts';

/**
 * `thoth approvals list|show|approve|deny` and `thoth login` (device code against a real OpenID Provider), run
 * as the real CLI process against a Thoth API listening on a loopback port.
 */
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'services/thoth/bin/thoth.mjs');
const TENANT = 'acme-corp';
const work = mkdtempSync(join(tmpdir(), 'thoth-cli-approvals-'));
const SESSION_FILE = join(work, 'config', 'session.json');

let idp: TestIdp;
let api: TestApi;
let url = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI with no credential but those given (never the developer's own). */
function thoth(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          THOTH_URL: url,
          THOTH_ADMIN_TOKEN: '',
          THOTH_API_KEY: '',
          THOTH_SESSION_FILE: SESSION_FILE,
          ...env,
        },
      },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise((r) => server.close(r));
  return port;
}

async function holdFor(tool: string, userId = 'system'): Promise<string> {
  const response = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { authorization: `Bearer ${api.key}` },
    payload: enforceBody({
      tool_name: tool,
      user_id: userId,
      approved_scope: [tool],
      tool_args: { amount: 900 },
    }),
  });
  const body = response.json() as { decision: string; decision_id: string };
  expect(body.decision).toBe('STEP_UP');
  return `apr_${body.decision_id}`;
}

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  idp = await startTestIdp({ redirectUris: [`${url}/console/api/sso/callback`] });
  const config = join(work, 'sso.json');
  writeFileSync(
    config,
    JSON.stringify({
      issuer: idp.issuer,
      client_id: idp.clients.console.id,
      client_secret: idp.clients.console.secret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      cli_client_id: idp.clients.cli.id,
      allow_http: true,
      redirect_uri: `${url}/console/api/sso/callback`,
      tenants: { [TENANT]: { roles: { 'payments-approvers': 'approver', 'soc-viewers': 'viewer' } } },
    }),
  );
  api = await startTestApi({
    env: { THOTH_SSO_CONFIG: config },
    policy: {
      rules: [
        {
          id: 'pay',
          condition: 'true',
          tools: ['pay_invoice'],
          effect: 'STEP_UP',
          reason: 'payments need a person',
        },
      ],
    },
  });
  await api.service.app.listen({ port, host: '127.0.0.1' });
});

afterAll(async () => {
  await api?.close();
  await idp?.close();
  rmSync(work, { recursive: true, force: true });
});

describe('thoth approvals and thoth login', () => {
  it('--help lists the approvals commands and login', async () => {
    const help = await thoth(['--help']);
    expect(help.code).toBe(0);
    for (const line of [
      'approvals list --tenant T',
      'approvals show',
      'approvals approve',
      'approvals deny',
      'login --tenant T',
    ])
      expect(help.stdout).toContain(line);
    const own = await thoth(['approvals', '--help']);
    expect(own.stdout).toMatch(/^Usage: thoth approvals/);
    expect((await thoth(['approvals', 'approve', '--tenant', TENANT])).code).toBe(2); // no id
  });

  it('lists, shows and approves with a key and the admin token; a key without "admin" cannot vote', async () => {
    const id = await holdFor('pay_invoice');
    const listed = await thoth([
      'approvals',
      'list',
      '--tenant',
      TENANT,
      '--status',
      'pending',
      '--api-key',
      api.key,
    ]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+pending\\s+invoice-processor-v2\\s+system\\s+pay_invoice`),
    );
    expect(listed.stdout).toContain('0/1');

    const shown = await thoth(['approvals', 'show', '--tenant', TENANT, id, '--admin-token', ADMIN_TOKEN]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`approval ${id}: pending`);
    expect(shown.stdout).toMatch(/arguments sha256: [0-9a-f]{64}/);
    expect(shown.stdout).toContain('no votes yet');

    // The test key has execute, write, read: reading yes, voting no.
    const refused = await thoth(['approvals', 'deny', '--tenant', TENANT, id, '--api-key', api.key]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/403 forbidden: .*"admin"/);

    const approved = await thoth([
      'approvals',
      'approve',
      '--tenant',
      TENANT,
      id,
      '--comment',
      'invoice checked',
      '--admin-token',
      ADMIN_TOKEN,
      '--json',
    ]);
    expect(approved.code).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({
      id,
      status: 'approved',
      resolved_by: 'admin-token',
      comment: 'invoice checked',
      votes: [{ decision: 'approve', principal: { kind: 'admin-token' } }],
    });
    // Once resolved, a second vote is a conflict.
    expect(
      (await thoth(['approvals', 'deny', '--tenant', TENANT, id, '--admin-token', ADMIN_TOKEN])).code,
    ).toBe(1);
  });

  it('thoth login signs a person in with the device code; their votes carry their name', async () => {
    const login = spawn(process.execPath, [BIN, 'login', '--tenant', TENANT], {
      cwd: ROOT,
      env: {
        ...process.env,
        THOTH_URL: url,
        THOTH_ADMIN_TOKEN: '',
        THOTH_API_KEY: '',
        THOTH_SESSION_FILE: SESSION_FILE,
      },
    });
    let stdout = '';
    let stderr = '';
    login.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    login.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number>((r) => login.on('exit', (code) => r(code ?? 1)));
    const deadline = Date.now() + 20_000;
    while (!/open (\S+)/.test(stdout) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const verification = /open (\S+)/.exec(stdout)?.[1];
    expect(verification, stderr).toMatch(new RegExp(`^${idp.issuer}/device`));
    // The person opens the link in a browser, confirms the code, signs in at the IdP as alice.
    const done = await signInThroughIdp(verification!, 'alice');
    expect(done.response.status).toBe(200);
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/signed in to tenant acme-corp as alice@example.com \(approver\)/);
    // Only its owner can read the session file.
    expect(statSync(SESSION_FILE).mode & 0o077).toBe(0);

    const id = await holdFor('pay_invoice');
    const approved = await thoth(['approvals', 'approve', '--tenant', TENANT, id, '--comment', 'ok by me']);
    expect(approved.code, approved.stderr).toBe(0);
    expect(approved.stdout).toContain(`approval ${id} approved by alice@example.com (${idp.issuer})`);
    const shown = await thoth(['approvals', 'show', '--tenant', TENANT, id]);
    expect(shown.stdout).toContain(`approve by alice@example.com (${idp.issuer})`);

    const out = await thoth(['logout']);
    expect(out.stdout).toContain('signed out of tenant acme-corp');
    expect((await thoth(['approvals', 'list', '--tenant', TENANT])).code).toBe(1);
  }, 60_000);
});
