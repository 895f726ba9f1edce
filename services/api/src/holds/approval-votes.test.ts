import { afterEach, describe, expect, it } from 'vitest';
import type { PersonPrincipal } from '../http/principal.ts';
import { HoldConflictError, HoldVoteRefusedError, type NewHold } from './hold-registry.ts';
import { APPROVALS, EVENTS, HoldsOnMemoryBus } from './holds-on-memory-bus.ts';

const ISSUER = 'https://idp.example';
const person = (subject: string, groups: string[], email = `${subject}@example.com`): PersonPrincipal => ({
  kind: 'person',
  issuer: ISSUER,
  subject,
  email,
  name: subject,
  groups,
  tenantId: 'acme',
  role: 'approver',
});
const alice = person('alice', ['payments']);
const bob = person('bob', ['payments']);
const carol = person('carol', ['support']);
const dave = person('dave', ['payments']);

const twoPerson: NewHold = {
  approval_id: 'apr_2',
  tenant_id: 'acme',
  agent_id: 'bot',
  session_id: 's-1',
  user_id: 'dave@example.com',
  tool_name: 'wire_transfer',
  args_digest: 'e'.repeat(64),
  args_preview_json: '{}',
  reason: 'large wire',
  reason_code: 'large_wire',
  risk_score: 70,
  violation_id: 'v-2',
  enforcement_trace_id: 't-2',
  finding_ids: [],
  approvers: ['payments'],
  approvals_required: 2,
  policy_version: 7,
};

const t = new HoldsOnMemoryBus();
afterEach(() => t.close());

describe('HoldRegistry: votes', () => {
  it('a two-person rule stays pending after one approval and resolves at the second, naming both', async () => {
    await t.setup();
    const a = await t.replica();
    const hold = a.holds.create(twoPerson);
    const first = await a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: 'ok' });
    expect(first.status).toBe('pending');
    expect(first.votes).toHaveLength(1);
    const second = await a.holds.vote(hold.token, { principal: bob, decision: 'approve', comment: null });
    expect(second.status).toBe('approved');
    expect(second.resolved_by).toBe(`alice@example.com (${ISSUER}), bob@example.com (${ISSUER})`);
    expect(second.votes?.map((v) => [v.principal.subject, v.args_digest, v.policy_version])).toEqual([
      ['alice', 'e'.repeat(64), 7],
      ['bob', 'e'.repeat(64), 7],
    ]);
    // The trail has the request, the first vote and the resolution (which carries both votes).
    await a.publisher.settle();
    const trail = await t.holdsOn(EVENTS);
    expect(trail.map((h) => [h.status, h.votes?.length])).toEqual([
      ['pending', 0],
      ['pending', 1],
      ['approved', 2],
    ]);
  });

  it('one person counts once; the person the call was made for, a non-member and a key cannot vote', async () => {
    await t.setup();
    const a = await t.replica();
    const hold = a.holds.create(twoPerson);
    await a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null });
    await expect(
      a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null }),
    ).rejects.toThrow(/one person counts once/);
    await expect(
      a.holds.vote(hold.token, { principal: dave, decision: 'approve', comment: null }),
    ).rejects.toThrow(/separation of duties/);
    // The same person however the agent spelled them: case, spaces, full-width letters.
    for (const spelled of [' DAVE@example.com ', 'ｄａｖｅ@example.com'])
      await expect(
        a.holds.vote(a.holds.create({ ...twoPerson, user_id: spelled }).token, {
          principal: dave,
          decision: 'approve',
          comment: null,
        }),
      ).rejects.toThrow(/separation of duties/);
    await expect(
      a.holds.vote(hold.token, { principal: carol, decision: 'approve', comment: null }),
    ).rejects.toThrow(/member of "payments"/);
    await expect(
      a.holds.vote(hold.token, {
        principal: { kind: 'key', keyId: 'key_1', name: 'ops', tenantId: 'acme' },
        decision: 'approve',
        comment: null,
      }),
    ).rejects.toBeInstanceOf(HoldVoteRefusedError);
    expect(a.holds.get(hold.token)?.status).toBe('pending');
  });

  it('the first denial resolves the hold, whatever approvals came before', async () => {
    await t.setup();
    const a = await t.replica();
    const hold = a.holds.create(twoPerson);
    await a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null });
    const denied = await a.holds.vote(hold.token, {
      principal: bob,
      decision: 'deny',
      comment: 'wrong payee',
    });
    expect(denied).toMatchObject({
      status: 'denied',
      comment: 'wrong payee',
      resolved_by: `bob@example.com (${ISSUER})`,
    });
    await expect(
      a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null }),
    ).rejects.toBeInstanceOf(HoldConflictError);
  });

  it('votes on two replicas at once are linearized: both count, and a restarted replica reads the result', async () => {
    await t.setup();
    const a = await t.replica();
    const b = await t.replica();
    const hold = a.holds.create(twoPerson);
    await a.publisher.settle();
    const [va, vb] = await Promise.all([
      a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null }),
      b.holds.vote(hold.token, { principal: bob, decision: 'approve', comment: null }),
    ]);
    // One of them counted first; the other lost the compare-and-set, voted again on the newer state and resolved it.
    expect([va.status, vb.status].sort()).toEqual(['approved', 'pending']);
    await a.publisher.settle();
    await b.publisher.settle();
    for (const r of [a, b, await t.replica()]) {
      const seen = r.holds.get(hold.token);
      expect(seen?.status).toBe('approved');
      expect(seen?.votes?.map((v) => v.principal.subject).sort()).toEqual(['alice', 'bob']);
    }
    expect((await t.holdsOn(APPROVALS)).at(-1)?.status).toBe('approved');
  });

  it('the same person voting on two replicas at once counts once', async () => {
    await t.setup();
    const a = await t.replica();
    const b = await t.replica();
    const hold = a.holds.create(twoPerson);
    await a.publisher.settle();
    const results = await Promise.allSettled([
      a.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null }),
      b.holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    const refused = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
    expect(refused.reason).toBeInstanceOf(HoldVoteRefusedError);
    expect(a.holds.get(hold.token)?.votes).toHaveLength(1);
    expect(b.holds.get(hold.token)?.votes).toHaveLength(1);
  });

  it('a hold with one vote of two expires to BLOCK', async () => {
    await t.setup();
    let now = Date.now();
    const { holds, publisher } = await t.replica(() => now);
    const hold = holds.create(twoPerson, 30);
    await holds.vote(hold.token, { principal: alice, decision: 'approve', comment: null });
    now += 31_000;
    expect(holds.get(hold.token)?.status).toBe('expired');
    await publisher.settle();
    expect(holds.get(hold.token)).toMatchObject({ status: 'expired', votes: [expect.anything()] });
    await expect(
      holds.vote(hold.token, { principal: bob, decision: 'approve', comment: null }),
    ).rejects.toBeInstanceOf(HoldConflictError);
  });
});
