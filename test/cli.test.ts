import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from './helpers.ts';

/** The `thoth` CLI end to end, against a started (embedded) Thoth. */
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'services/thoth/bin/thoth.mjs');
const ADMIN = 'cli-admin-token-0123456789';
const work = mkdtempSync(join(tmpdir(), 'thoth-cli-'));
let server: ChildProcess;
let url = '';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function thoth(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, THOTH_URL: url, THOTH_ADMIN_TOKEN: ADMIN, ...env } },
      (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  server = spawn(process.execPath, [BIN, 'start'], {
    cwd: ROOT,
    env: {
      ...process.env,
      THOTH_DATA_DIR: join(work, 'data'),
      THOTH_ADMIN_TOKEN: ADMIN,
      PORT: String(port),
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitFor(
    'thoth start',
    async () => (await fetch(`${url}/healthz`).catch(() => null))?.status === 200,
    90_000,
  );
}, 120_000);
afterAll(async () => {
  server?.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.on('exit', r)));
  rmSync(work, { recursive: true, force: true });
});

describe('thoth CLI', () => {
  it('--help, and exit code 2 on bad usage', async () => {
    const help = await thoth(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/keys create --tenant T/);
    expect((await thoth(['keys', 'create'])).code).toBe(2);
    expect((await thoth(['frobnicate'])).code).toBe(2);
    expect((await thoth(['--no-such-flag'])).code).toBe(2);
  });

  it('tenants, keys, policies apply/test, tail, verify, revoke — JSON and human output', async () => {
    const tenant = await thoth(['tenants', 'create', 'cli-corp', '--name', 'CLI Corp', '--json']);
    expect(tenant.code).toBe(0);
    expect(JSON.parse(tenant.stdout)).toMatchObject({ tenant_id: 'cli-corp', display_name: 'CLI Corp' });
    expect((await thoth(['tenants', 'create', 'cli-corp'])).code).toBe(1); // 409

    const created = await thoth([
      'keys',
      'create',
      '--tenant',
      'cli-corp',
      '--name',
      'agent',
      '--permissions',
      'execute,read',
      '--json',
    ]);
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { api_key: string; key_id: string };
    expect(key.api_key).toMatch(/^thoth_live_/);
    const listed = await thoth(['keys', 'list', '--tenant', 'cli-corp']);
    expect(listed.stdout).toContain(key.key_id);
    expect(listed.stdout).not.toContain(key.api_key);

    const rules = join(work, 'rules.yaml');
    writeFileSync(
      rules,
      'rules:\n  - { id: no-wires, condition: tool == "wire_transfer", effect: BLOCK, reason: no wires }\n',
    );
    const applied = await thoth(['policies', 'apply', '--tenant', 'cli-corp', '-f', rules]);
    expect(applied).toMatchObject({ code: 0, stdout: expect.stringMatching(/policy version \d+ applied/) });

    const tail = spawn(process.execPath, [BIN, 'tail', '--json'], {
      cwd: ROOT,
      env: { ...process.env, THOTH_URL: url, THOTH_API_KEY: key.api_key, THOTH_ADMIN_TOKEN: '' },
    });
    let tailed = '';
    tail.stdout.on('data', (chunk) => {
      tailed += String(chunk);
    });
    await new Promise((r) => setTimeout(r, 1_500)); // the tail subscribes
    const decide = (tool: string) =>
      fetch(`${url}/v1/enforce`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key.api_key}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          agent_id: 'cli-bot',
          tenant_id: 'cli-corp',
          tool_name: tool,
          session_id: 's',
        }),
      }).then((r) => r.json() as Promise<{ decision: string }>);
    expect((await decide('wire_transfer')).decision).toBe('BLOCK');
    expect((await decide('search_docs')).decision).toBe('ALLOW');
    await waitFor('tail to print the decisions', () => tailed.includes('search_docs'), 10_000);
    tail.kill('SIGTERM');
    expect(tailed).toContain('"decision":"BLOCK"');

    const testRules = join(work, 'stricter.yaml');
    writeFileSync(
      testRules,
      'rules:\n  - { id: no-search, condition: tool == "search_docs", effect: BLOCK, reason: no search }\n',
    );
    await waitFor(
      'the decisions in the trail',
      async () =>
        (
          await thoth(['policies', 'test', '--tenant', 'cli-corp', '-f', testRules, '--json'])
        ).stdout.includes('"evaluated": 2'),
      20_000,
    );
    const dry = await thoth(['policies', 'test', '--tenant', 'cli-corp', '-f', testRules]);
    expect(dry.stdout).toMatch(/would have blocked 1 calls/);

    const verified = await thoth(['verify', '--tenant', 'cli-corp'], {
      THOTH_API_KEY: key.api_key,
      THOTH_ADMIN_TOKEN: '',
    });
    expect(verified).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/evidence chain verified: \d+ records/),
    });

    const revoked = await thoth(['keys', 'revoke', '--tenant', 'cli-corp', key.key_id]);
    expect(revoked).toMatchObject({ code: 0, stdout: expect.stringMatching(/revoked/) });
    const refused = await thoth(['verify', '--tenant', 'cli-corp'], {
      THOTH_API_KEY: key.api_key,
      THOTH_ADMIN_TOKEN: '',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/401 unauthorized: API key revoked/);
  });
});
