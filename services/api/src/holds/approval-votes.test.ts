import { AvroCodec } from '@thoth/common/bus/avro-codec';
import { MemoryBus } from '@thoth/common/bus/memory-bus';
import { createLogger } from '@thoth/common/logger';
import type { HoldRecord } from '@thoth/common/records';
import { afterEach, describe, expect, it } from 'vitest';
import { BackgroundPublisher } from '../background-publisher.ts';
import type { PersonPrincipal } from '../http/principal.ts';
import { HoldConflictError, HoldRegistry, HoldVoteRefusedError, type NewHold } from './hold-registry.ts';

const APPROVALS = 'test.approvals';
const EVENTS = 'test.events';
const codec = new AvroCodec();
const log = createLogger('silent');

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

let bus: MemoryBus;
const replicas: Array<{ holds: HoldRegistry; publisher: BackgroundPublisher }> = [];

async function replica() {
  const publisher = new BackgroundPublisher({ bus, codec, log });
  const holds = new HoldRegistry({
    bus,
    codec,
    topic: APPROVALS,
    eventsTopic: EVENTS,
    publisher,
    log,
    ttlSeconds: 60,
  });
  await holds.start();
  const r = { holds, publisher };
  replicas.push(r);
  return r;
}

async function holdsOn(topic: string): Promise<HoldRecord[]> {
  const records: HoldRecord[] = [];
  const view = await bus.openView(topic, (_key, value, headers) => {
    const decoded = value && codec.decode({ value, headers });
    if (decoded?.ok && decoded.schema === 'thoth.v1.Hold') records.push(decoded.value);
  });
  await view.close();
  return records;
}

async function setup(): Promise<void> {
  bus = new MemoryBus({ defaultPartitions: 1 });
  await bus.ensureTopics([{ name: APPROVALS, compacted: true }, { name: EVENTS }]);
}

afterEach(async () => {
  for (const r of replicas.splice(0)) {
    await r.publisher.drain();
    await r.holds.stop();
  }
  await bus.close();
});

describe('HoldRegistry: votes', () => {
  it('a two-person rule stays pending after one approval and resolves at the second, naming both', async () => {
    await setup();
    const a = await replica();
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
    const trail = await holdsOn(EVENTS);
    expect(trail.map((h) => [h.status, h.votes?.length])).toEqual([
      ['pending', 0],
      ['pending', 1],
      ['approved', 2],
    ]);
  });

  it('one person counts once; the person the call was made for, a non-member and a key cannot vote', async () => {
    await setup();
    const a = await replica();
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
    await setup();
    const a = await replica();
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
    await setup();
    const a = await replica();
    const b = await replica();
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
    for (const r of [a, b, await replica()]) {
      const seen = r.holds.get(hold.token);
      expect(seen?.status).toBe('approved');
      expect(seen?.votes?.map((v) => v.principal.subject).sort()).toEqual(['alice', 'bob']);
    }
    expect((await holdsOn(APPROVALS)).at(-1)?.status).toBe('approved');
  });

  it('the same person voting on two replicas at once counts once', async () => {
    await setup();
    const a = await replica();
    const b = await replica();
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
    await setup();
    let now = Date.now();
    const publisher = new BackgroundPublisher({ bus, codec, log });
    const holds = new HoldRegistry({
      bus,
      codec,
      topic: APPROVALS,
      eventsTopic: EVENTS,
      publisher,
      log,
      ttlSeconds: 60,
      now: () => now,
    });
    await holds.start();
    replicas.push({ holds, publisher });
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
