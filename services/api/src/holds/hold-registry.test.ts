import { afterEach, describe, expect, it } from 'vitest';
import { HoldConflictError, type NewHold } from './hold-registry.ts';
import { APPROVALS, codec, EVENTS, HoldsOnMemoryBus } from './holds-on-memory-bus.ts';

const fields: NewHold = {
  approval_id: 'apr_1',
  tenant_id: 'acme',
  agent_id: 'bot',
  session_id: 's-1',
  user_id: 'u',
  tool_name: 'wire_transfer',
  args_digest: 'd'.repeat(64),
  args_preview_json: '{}',
  reason: 'wires need approval',
  reason_code: 'POLICY',
  risk_score: 50,
  violation_id: 'v-1',
  enforcement_trace_id: 't-1',
  finding_ids: [],
  approvers: [],
  approvals_required: 1,
  policy_version: 0,
};

const t = new HoldsOnMemoryBus();
afterEach(() => t.close());

describe('HoldRegistry: resolving is a compare-and-set on the approvals topic', () => {
  it('two replicas resolving at once: the first on the topic wins everywhere, the other is a conflict', async () => {
    await t.setup();
    const a = await t.replica();
    const b = await t.replica();
    const hold = a.holds.create(fields);
    await a.publisher.settle();
    expect(b.holds.get(hold.token)?.status).toBe('pending');

    // Both find the hold pending, then both publish: A's message is first on the topic.
    const results = await Promise.allSettled([
      a.holds.resolve(hold.token, 'approved', 'alice', null),
      b.holds.resolve(hold.token, 'denied', 'bob', null),
    ]);
    expect(results[0]).toMatchObject({ status: 'fulfilled', value: { status: 'approved' } });
    expect(results[1]).toMatchObject({ status: 'rejected', reason: expect.any(HoldConflictError) });
    expect(a.holds.get(hold.token)?.status).toBe('approved');
    expect(b.holds.get(hold.token)?.status).toBe('approved');

    // The loser republished the winner: the compacted topic's last word, and a replica started now, agree.
    await b.publisher.settle();
    const onTopic = await t.holdsOn(APPROVALS);
    expect(onTopic.map((h) => h.status)).toEqual(['pending', 'approved', 'denied', 'approved']);
    expect((await t.replica()).holds.get(hold.token)?.status).toBe('approved');
    // The trail holds the winner only.
    const trail = await t.holdsOn(EVENTS);
    expect(trail.map((h) => h.status)).toEqual(['pending', 'approved']);
  });

  it('two requests on one replica: the second is a conflict at once', async () => {
    await t.setup();
    const a = await t.replica();
    const hold = a.holds.create(fields);
    const results = await Promise.allSettled([
      a.holds.resolve(hold.token, 'denied', 'alice', null),
      a.holds.resolve(hold.token, 'approved', 'bob', null),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected']);
    expect(a.holds.get(hold.token)?.status).toBe('denied');
    expect((await t.holdsOn(APPROVALS)).map((h) => h.status)).toEqual(['pending', 'denied']);
  });

  it('an approval first on the topic stands over a replica’s expiry, which stays out of the trail', async () => {
    await t.setup();
    const a = await t.replica();
    const late = await t.replica(() => Date.now() + 3_600_000);
    const hold = a.holds.create(fields);
    await a.publisher.settle();
    // The late replica answers expired at once; its expiry is only queued.
    expect(late.holds.get(hold.token)?.status).toBe('expired');
    await a.holds.resolve(hold.token, 'approved', 'alice', null);
    await late.publisher.settle();
    expect(late.holds.get(hold.token)?.status).toBe('approved');
    // Its expiry lost: the winner it republished is queued behind it.
    await late.publisher.settle();
    expect((await t.holdsOn(EVENTS)).map((h) => h.status)).toEqual(['pending', 'approved']);
    expect((await t.holdsOn(APPROVALS)).at(-1)?.status).toBe('approved');
  });

  it('a late copy of the pending record does not undo a resolution', async () => {
    await t.setup();
    const a = await t.replica();
    const hold = a.holds.create(fields);
    await a.holds.resolve(hold.token, 'approved', 'alice', null);
    await t.bus.publish(APPROVALS, [codec.encode('thoth.v1.Hold', hold.token, hold)]);
    expect(a.holds.get(hold.token)?.status).toBe('approved');
  });
});
