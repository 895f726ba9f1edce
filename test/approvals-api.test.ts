import type { HoldRecord } from '@thoth/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { waitFor } from './helpers.ts';

const POLICY = {
  rules: [
    {
      id: 'approve-wire',
      condition: 'tool == "wire_transfer"',
      effect: 'STEP_UP',
      reason: 'wire transfers need approval',
    },
    {
      id: 'approve-quick',
      condition: 'tool == "quick_wire"',
      effect: 'STEP_UP',
      reason: 'quick wires expire fast',
      step_up_timeout_seconds: 1,
    },
  ],
};

let api: TestApi;
let adminKey: string;
beforeAll(async () => {
  api = await startTestApi({ policy: POLICY });
  const created = await api.service.control.commands.createApiKey({
    tenantId: 'acme-corp',
    name: 'alice',
    permissions: ['read', 'admin'],
    createdBy: 'test',
  });
  adminKey = created.apiKey;
});
afterAll(async () => {
  await api.close();
});

async function stepUp(
  tool = 'wire_transfer',
  args: unknown = { kwargs: { amount: 50_000, password: 'hunter2' } },
) {
  const r = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { authorization: `Bearer ${api.key}` },
    payload: enforceBody({ tool_name: tool, approved_scope: [], tool_args: args }),
  });
  const body = r.json() as { decision: string; hold_token: string; violation_id: string };
  expect(body.decision).toBe('STEP_UP');
  return body;
}

async function approvals(query = '', key = api.key) {
  const r = await api.inject({
    method: 'GET',
    url: `/acme-corp/thoth/approvals${query}`,
    headers: { 'x-api-key': key },
  });
  return { status: r.statusCode, body: r.json() as { data: Array<Record<string, unknown>>; total: number } };
}

async function resolve(id: string, decision: string, key = adminKey, comment?: string) {
  const r = await api.inject({
    method: 'POST',
    url: `/acme-corp/thoth/approvals/${id}/resolve`,
    headers: { authorization: `Bearer ${key}` },
    payload: { decision, comment },
  });
  return { status: r.statusCode, body: r.json() as Record<string, unknown> };
}

const poll = async (token: string) =>
  (
    await api.inject({ method: 'GET', url: `/v1/enforce/hold/${token}`, headers: { 'x-api-key': api.key } })
  ).json() as {
    decision: string;
    reason?: string;
  };

describe('step-up approvals', () => {
  it('lists a pending approval with the call digest and a redacted preview of its args', async () => {
    const hold = await stepUp();
    const { body } = await approvals('?status=pending');
    const mine = body.data.find((a) => a.violation_id === hold.violation_id)!;
    expect(mine).toMatchObject({
      status: 'pending',
      agent_id: 'invoice-processor-v2',
      tool_name: 'wire_transfer',
      args_digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      args_preview: { kwargs: { amount: 50_000, password: '[REDACTED]' } },
      reason: 'wire transfers need approval',
      risk_score: expect.any(Number),
      expires_at: expect.any(String),
    });
    expect(JSON.stringify(mine)).not.toContain(hold.hold_token);
    expect(body.total).toBeGreaterThanOrEqual(1);
  });

  it('records who approved, releases that one call only, and refuses a second resolution with 409', async () => {
    const first = await stepUp();
    const id = (await approvals('?status=pending')).body.data.find(
      (a) => a.violation_id === first.violation_id,
    )!.id as string;
    const approved = await resolve(id, 'approve', adminKey, 'looks right');
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'approved',
      resolved_by: expect.stringContaining('alice'),
      comment: 'looks right',
    });
    expect((await poll(first.hold_token)).decision).toBe('ALLOW');
    expect((await resolve(id, 'deny')).status).toBe(409);

    // The same call again is a new step-up: an approval never releases future calls.
    const again = await stepUp();
    expect(again.hold_token).not.toBe(first.hold_token);
    expect((await poll(again.hold_token)).decision).toBe('STEP_UP');
  });

  it('a denial answers BLOCK with the comment; an expired approval cannot be resolved (409)', async () => {
    const denied = await stepUp();
    const id = (await approvals('?status=pending')).body.data.find(
      (a) => a.violation_id === denied.violation_id,
    )!.id as string;
    await resolve(id, 'deny', adminKey, 'not this vendor');
    expect(await poll(denied.hold_token)).toMatchObject({ decision: 'BLOCK', reason: 'not this vendor' });

    const quick = await stepUp('quick_wire');
    await new Promise((r) => setTimeout(r, 1_100));
    const expired = (await approvals('?status=expired')).body.data.find(
      (a) => a.violation_id === quick.violation_id,
    )!;
    expect(expired.status).toBe('expired');
    expect((await resolve(expired.id as string, 'approve')).status).toBe(409);
    expect((await poll(quick.hold_token)).decision).toBe('BLOCK');
  });

  it('only a person may resolve: an agent key is 403, another tenant is 403, unknown is 404', async () => {
    const hold = await stepUp();
    const id = (await approvals('?status=pending')).body.data.find(
      (a) => a.violation_id === hold.violation_id,
    )!.id as string;
    expect((await resolve(id, 'approve', api.key)).status).toBe(403);
    const other = await api.service.control.commands.createApiKey({
      tenantId: 'globex',
      name: 'g',
      permissions: ['read', 'admin'],
      createdBy: 't',
    });
    expect((await resolve(id, 'approve', other.apiKey)).status).toBe(403);
    // An admin key that can also execute (or write) is an agent's key too: it may not release held calls.
    for (const permissions of [
      ['execute', 'admin'],
      ['write', 'read', 'admin'],
    ] as const) {
      const agentAdmin = await api.service.control.commands.createApiKey({
        tenantId: 'acme-corp',
        name: `agent-admin-${permissions.join('-')}`,
        permissions: [...permissions],
        createdBy: 't',
      });
      const refused = await resolve(id, 'approve', agentAdmin.apiKey);
      expect(refused.status).toBe(403);
      expect(refused.body.message).toMatch(/also has execute or write/);
    }
    expect((await resolve('apr_nope', 'approve')).status).toBe(404);
    expect((await resolve(id, 'approve', ADMIN_TOKEN)).status).toBe(200);
    expect((await approvals('', other.apiKey)).status).toBe(403);
  });

  it('emits every state of an approval to the audit trail (events topic)', async () => {
    const hold = await stepUp();
    const id = (await approvals('?status=pending')).body.data.find(
      (a) => a.violation_id === hold.violation_id,
    )!.id as string;
    await resolve(id, 'approve');
    const states = () =>
      api
        .records()
        .filter((d) => d.schema === 'thoth.v1.Hold')
        .map((d) => (d as { value: HoldRecord }).value)
        .filter((h) => h.approval_id === id)
        .map((h) => h.status);
    await waitFor(
      'requested and approved on the events topic',
      () => states().includes('pending') && states().includes('approved'),
    );
  });
});
