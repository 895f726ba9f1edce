import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniquePrefix, waitFor } from './helpers.ts';
import { ThothProcesses } from './thoth-processes.ts';

/**
 * Two Thoth API processes on one Kafka broker, as two replicas behind a load balancer would be. A runs the
 * audit writer too (its own chDB), B is API only. Holds are created through A, resolved through B.
 */
const ADMIN = 'replica-admin-token-0123456789';
const processes = new ThothProcesses('replicas', {
  prefix: uniquePrefix('replicas-proc'),
  adminToken: ADMIN,
});
const json = async (r: Response) => (await r.json()) as Record<string, unknown>;

let a = '';
let b = '';
let agentKey = '';
let approverKey = '';

beforeAll(async () => {
  const policyFile = join(processes.work, 'policy.yaml');
  writeFileSync(
    policyFile,
    [
      'rules:',
      '  - { id: approve-wire, condition: tool == "wire_transfer", effect: STEP_UP, reason: wires need approval }',
      '  - { id: approve-quick, condition: tool == "quick_wire", effect: STEP_UP, reason: quick wires expire fast, step_up_timeout_seconds: 1 }',
      '',
    ].join('\n'),
  );
  a = await processes.start('a', 'api,audit-writer', { THOTH_POLICY_FILE: policyFile });
  b = await processes.start('b', 'api', { THOTH_POLICY_FILE: policyFile });
  const create = async (name: string, permissions: string[]) =>
    (
      await json(
        await fetch(`${a}/acme-corp/thoth/api-keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ name, permissions }),
        }),
      )
    ).api_key as string;
  agentKey = await create('agent', ['execute', 'write']);
  approverKey = await create('alice', ['read', 'admin']);
  await waitFor(
    'B to learn the keys',
    async () => {
      const r = await fetch(`${b}/acme-corp/thoth/approvals`, { headers: { 'x-api-key': approverKey } });
      return r.status === 200;
    },
    5_000,
  );
}, 120_000);

afterAll(() => processes.stopAll());

async function stepUpOnA(tool: string) {
  const r = await fetch(`${a}/v1/enforce`, {
    method: 'POST',
    headers: { authorization: `Bearer ${agentKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      agent_id: 'payments-bot',
      tenant_id: 'acme-corp',
      tool_name: tool,
      session_id: `s-${tool}-${Date.now()}`,
      tool_args: { kwargs: { amount: 50_000 } },
    }),
  });
  const body = await json(r);
  expect(body.decision).toBe('STEP_UP');
  return { token: body.hold_token as string, violation: body.violation_id as string };
}

const pollA = async (token: string) =>
  json(await fetch(`${a}/v1/enforce/hold/${token}`, { headers: { 'x-api-key': agentKey } }));

async function approvalIdOnB(violation: string): Promise<string> {
  let id = '';
  await waitFor(
    'B to list the approval',
    async () => {
      const list = await json(
        await fetch(`${b}/acme-corp/thoth/approvals?status=pending`, {
          headers: { 'x-api-key': approverKey },
        }),
      );
      id =
        ((list.data as Array<Record<string, unknown>>).find((x) => x.violation_id === violation)
          ?.id as string) ?? '';
      return id !== '';
    },
    5_000,
  );
  return id;
}

async function resolveOnB(id: string, decision: string, comment?: string) {
  return fetch(`${b}/acme-corp/thoth/approvals/${id}/resolve`, {
    method: 'POST',
    headers: { authorization: `Bearer ${approverKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ decision, comment }),
  });
}

async function trail(violation: string): Promise<string[]> {
  const feed = await json(
    await fetch(`${a}/acme-corp/thoth/governance/feed?search=${violation}&sort_by=occurred_at&sort_dir=asc`, {
      headers: { 'x-api-key': approverKey },
    }),
  );
  return (feed.data as Array<Record<string, unknown>>).map((e) => `${e.event_type}:${e.decision}`);
}

describe('approvals across two API processes on one Kafka broker', () => {
  it('approved through B: a poll on A answers ALLOW within 1 s, and the trail has it', async () => {
    const { token, violation } = await stepUpOnA('wire_transfer');
    const id = await approvalIdOnB(violation);
    const resolvedAt = Date.now();
    expect((await resolveOnB(id, 'approve')).status).toBe(200);
    await waitFor('A to answer ALLOW', async () => (await pollA(token)).decision === 'ALLOW', 1_000);
    console.log(`[replicas] approval on B seen by a poll on A after ${Date.now() - resolvedAt} ms`);
    await waitFor(
      'the trail',
      async () => (await trail(violation)).includes('APPROVAL_APPROVED:ALLOW'),
      15_000,
    );
    expect(await trail(violation)).toEqual(
      expect.arrayContaining(['DECISION:STEP_UP', 'APPROVAL_REQUESTED:STEP_UP', 'APPROVAL_APPROVED:ALLOW']),
    );
  });

  it('denied through B: A answers BLOCK with the comment as reason', async () => {
    const { token, violation } = await stepUpOnA('wire_transfer');
    const id = await approvalIdOnB(violation);
    expect((await resolveOnB(id, 'deny', 'vendor not verified')).status).toBe(200);
    await waitFor('A to answer BLOCK', async () => (await pollA(token)).decision === 'BLOCK', 1_000);
    expect((await pollA(token)).reason).toBe('vendor not verified');
    await waitFor(
      'the trail',
      async () => (await trail(violation)).includes('APPROVAL_DENIED:BLOCK'),
      15_000,
    );
  });

  it('expiry answers BLOCK, and B refuses to approve it afterwards', async () => {
    const { token, violation } = await stepUpOnA('quick_wire');
    const id = await approvalIdOnB(violation);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(await pollA(token)).toMatchObject({ decision: 'BLOCK', resolved: true });
    expect((await resolveOnB(id, 'approve')).status).toBe(409);
    await waitFor(
      'the trail',
      async () => (await trail(violation)).includes('APPROVAL_EXPIRED:BLOCK'),
      15_000,
    );
  });
});
