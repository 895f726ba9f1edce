import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Store } from '@thoth/platform';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-start-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** The command of `npm start` (package.json), on a fresh data directory and a free port. */
async function start(
  port: number,
): Promise<{ child: ChildProcess; output: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, ['services/thoth/dist/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      THOTH_DATA_DIR: dataDir,
      LOG_LEVEL: 'warn',
      THOTH_ADMIN_TOKEN: '',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  return { child, output: () => output, exited };
}

async function healthyWithin(port: number, ms: number): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < ms) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (r.status === 200) return Date.now() - started;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`/healthz did not answer 200 within ${ms} ms`);
}

describe('npm start (embedded)', () => {
  let key = '';
  let violationId = '';

  it('answers /healthz within 20 s, serves the protocol, and drains on SIGTERM', async () => {
    const port = await freePort();
    const thoth = await start(port);
    const ms = await healthyWithin(port, 20_000);
    console.log(`[start] /healthz 200 after ${ms} ms`);
    expect(thoth.output()).toContain('Admin token');
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const created = await fetch(`http://127.0.0.1:${port}/acme-corp/thoth/api-keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'quickstart', permissions: ['execute', 'write', 'read'] }),
    });
    expect(created.status).toBe(201);
    key = ((await created.json()) as { api_key: string }).api_key;
    const decided = await fetch(`http://127.0.0.1:${port}/v1/enforce`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        agent_id: 'invoice-processor-v2',
        tenant_id: 'acme-corp',
        tool_name: 'submit_payment',
        session_id: 's-1',
        approved_scope: ['search_docs'],
        tool_args: { args: ['INV-001', 1500], kwargs: {} },
      }),
    });
    const body = (await decided.json()) as { decision: string; violation_id: string };
    expect(body.decision).toBe('BLOCK');
    violationId = body.violation_id;
    thoth.child.kill('SIGTERM');
    expect(await thoth.exited).toBe(0);
  });

  it('keeps keys across a restart, and the audit trail holds the decision', async () => {
    const port = await freePort();
    const thoth = await start(port);
    await healthyWithin(port, 20_000);
    const again = await fetch(`http://127.0.0.1:${port}/v1/enforce`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json' },
      body: JSON.stringify({
        agent_id: 'a',
        tenant_id: 'acme-corp',
        tool_name: 'search_docs',
        session_id: 's-2',
      }),
    });
    expect(again.status).toBe(200);
    thoth.child.kill('SIGTERM');
    expect(await thoth.exited).toBe(0);

    // chDB allows one process per data directory: read it now that Thoth stopped.
    const store = await Store.open({ database: 'thoth', dataDir });
    const rows = await store.select<{ decision: string; kind: string }>(
      'SELECT decision, kind FROM events WHERE violation_id = {id:String}',
      { id: violationId },
    );
    await store.close();
    expect(rows).toEqual([{ decision: 'BLOCK', kind: 'decision' }]);
  });
});
