import type { Bus } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonPrincipal } from '../services/api/src/http/principal.ts';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { adapters, uniquePrefix, waitFor } from './helpers.ts';

const kafka = adapters.find((a) => a.name === 'kafka')!;
const POLICY = {
  rules: [
    {
      id: 'approve-wire',
      condition: 'tool == "wire_transfer"',
      effect: 'STEP_UP',
      reason: 'wire transfers need approval',
    },
    {
      id: 'two-person-wire',
      condition: 'tool == "large_wire"',
      effect: 'STEP_UP',
      reason: 'large wires need two approvers',
      approvals_required: 2,
    },
  ],
};

const person = (subject: string): PersonPrincipal => ({
  kind: 'person',
  issuer: 'https://idp.example',
  subject,
  email: `${subject}@example.com`,
  name: subject,
  groups: [],
  tenantId: 'acme-corp',
  role: 'approver',
});

// Two API replicas, each with its own Kafka client (as two processes would be), on one broker.
describe('holds shared by API replicas through Kafka', () => {
  let busA: Bus;
  let busB: Bus;
  let a: TestApi;
  let b: TestApi;

  beforeAll(async () => {
    const prefix = uniquePrefix('replicas');
    busA = kafka.create();
    busB = kafka.create();
    a = await startTestApi({ bus: busA, prefix, policy: POLICY });
    b = await startTestApi({ bus: busB, prefix, policy: POLICY });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await busA.close();
    await busB.close();
  });

  async function stepUpOnA(tool = 'wire_transfer'): Promise<string> {
    const response = await a.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${a.key}` },
      payload: enforceBody({ tool_name: tool, approved_scope: [] }),
    });
    const body = response.json() as { decision: string; hold_token: string };
    expect(body.decision).toBe('STEP_UP');
    return body.hold_token;
  }

  const pollOnA = async (token: string) =>
    (
      await a.inject({ method: 'GET', url: `/v1/enforce/hold/${token}`, headers: { 'x-api-key': a.key } })
    ).json() as {
      decision: string;
      resolved: boolean;
      reason?: string;
    };

  it('a key created on one replica works on the other', async () => {
    await waitFor(
      'B to learn A’s key',
      async () => {
        const r = await b.inject({
          method: 'POST',
          url: '/v1/enforce',
          headers: { 'x-api-key': a.key },
          payload: enforceBody(),
        });
        return r.statusCode === 200;
      },
      5_000,
    );
  });

  it('a hold created on A and approved on B answers ALLOW on A within 1 s', async () => {
    const token = await stepUpOnA();
    await waitFor('B to see the hold', () => b.service.holds.get(token)?.status === 'pending', 5_000);
    const resolvedAt = Date.now();
    await b.service.holds.resolve(token, 'approved', 'alice@soc', null);
    await waitFor('A to answer ALLOW', async () => (await pollOnA(token)).decision === 'ALLOW', 1_000);
    expect(Date.now() - resolvedAt).toBeLessThan(1_000);
    expect((await pollOnA(token)).resolved).toBe(true);
  });

  it('a denial on B answers BLOCK with the comment on A', async () => {
    const token = await stepUpOnA();
    await waitFor('B to see the hold', () => b.service.holds.get(token)?.status === 'pending', 5_000);
    await b.service.holds.resolve(token, 'denied', 'bob@soc', 'amount looks wrong');
    await waitFor('A to answer BLOCK', async () => (await pollOnA(token)).decision === 'BLOCK', 1_000);
    expect((await pollOnA(token)).reason).toBe('amount looks wrong');
  });

  it('two people voting at once on A and B: both votes count (linearized on the topic), the call is released', async () => {
    const token = await stepUpOnA('large_wire');
    await waitFor('B to see the hold', () => b.service.holds.get(token)?.status === 'pending', 5_000);
    const [onA, onB] = await Promise.all([
      a.service.holds.vote(token, { principal: person('alice'), decision: 'approve', comment: null }),
      b.service.holds.vote(token, { principal: person('bob'), decision: 'approve', comment: null }),
    ]);
    // Whichever came second on the topic saw the first and resolved the hold.
    expect([onA.status, onB.status].sort()).toEqual(['approved', 'pending']);
    await waitFor('A to answer ALLOW', async () => (await pollOnA(token)).decision === 'ALLOW', 2_000);
    await waitFor('B to agree', () => b.service.holds.get(token)?.status === 'approved', 2_000);
    for (const replica of [a, b])
      expect(
        replica.service.holds
          .get(token)
          ?.votes?.map((v) => v.principal.subject)
          .sort(),
      ).toEqual(['alice', 'bob']);
  });

  it('one person voting on A and B at once counts once', async () => {
    const token = await stepUpOnA('large_wire');
    await waitFor('B to see the hold', () => b.service.holds.get(token)?.status === 'pending', 5_000);
    const results = await Promise.allSettled([
      a.service.holds.vote(token, { principal: person('carol'), decision: 'approve', comment: null }),
      b.service.holds.vote(token, { principal: person('carol'), decision: 'approve', comment: null }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(String((results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason)).toMatch(
      /counts once/,
    );
    await waitFor('B to apply the vote', () => b.service.holds.get(token)?.votes?.length === 1, 2_000);
    expect(a.service.holds.get(token)?.status).toBe('pending');
    expect(a.service.holds.get(token)?.votes).toHaveLength(1);
  });
});
