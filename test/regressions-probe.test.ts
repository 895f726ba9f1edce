import type { BehavioralEvent, HoldRecord } from '@thoth/contracts';
import { agentKey } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { clickhouseTime, MemoryBus } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storedState } from '../services/audit-writer/src/audit-store.ts';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { behavioralEvent } from './fixtures.ts';
import { adapters, uniquePrefix, waitFor } from './helpers.ts';
import { startTrailApi, type TrailApi } from './trail-harness.ts';

/** Regressions of issue #18 point 6: each of these failed before its fix. */

type Json = Record<string, unknown>;

const POLICY = {
  rules: [
    {
      id: 'approve-wire',
      condition: 'tool == "wire_transfer"',
      effect: 'STEP_UP',
      reason: 'wire transfers need approval',
    },
  ],
};

async function stepUp(api: TestApi): Promise<{ token: string; approvalId: string }> {
  const r = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { authorization: `Bearer ${api.key}` },
    payload: enforceBody({ tool_name: 'wire_transfer', approved_scope: [] }),
  });
  const body = r.json() as { decision: string; hold_token: string };
  expect(body.decision).toBe('STEP_UP');
  const hold = api.service.holds.get(body.hold_token);
  return { token: body.hold_token, approvalId: hold!.approval_id };
}

function resolveOn(api: TestApi, approvalId: string, decision: 'approve' | 'deny') {
  return api.inject({
    method: 'POST',
    url: `/acme-corp/thoth/approvals/${approvalId}/resolve`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { decision },
  });
}

/** The resolutions of one approval that reached the audit trail's topic (whichever replica saw them). */
function trailResolutions(apis: TestApi[], approvalId: string): string[] {
  return apis
    .flatMap((api) => api.records())
    .filter((d) => d.schema === 'thoth.v1.Hold')
    .map((d) => d.value as HoldRecord)
    .filter((h) => h.approval_id === approvalId && h.status !== 'pending')
    .map((h) => h.status);
}

/** What the compacted approvals topic keeps for a hold: the status of its last record there. */
async function lastWordOnTopic(api: TestApi, token: string): Promise<string | undefined> {
  let last: string | undefined;
  const view = await api.bus.openView(api.topics.approvals, (key, value, headers) => {
    if (key !== token || value === null) return;
    const decoded = api.codec.decode({ value, headers });
    if (decoded.ok && decoded.schema === 'thoth.v1.Hold') last = decoded.value.status;
  });
  await view.close();
  return last;
}

/**
 * A bus whose publishes land `ms` later, as over a network: two requests that arrive together both find the
 * hold pending before either one's resolution is on the topic (the in-process bus applies a publish at once).
 */
function slowBus(bus: Bus, ms = 50): Bus {
  return {
    ensureTopics: (specs) => bus.ensureTopics(specs),
    publish: async (topic, messages) => {
      await new Promise((r) => setTimeout(r, ms));
      await bus.publish(topic, messages);
    },
    subscribe: (options) => bus.subscribe(options),
    openView: (topic, onChange) => bus.openView(topic, onChange),
    lag: (group, topic) => bus.lag(group, topic),
    close: () => bus.close(),
  };
}

/**
 * One approve and one deny of the same approval at once (through `first` and `second`): exactly one wins, the
 * other is 409, every replica answers the winner, the compacted topic keeps the winner, the trail one resolution.
 */
async function race(apis: TestApi[], first: TestApi, second: TestApi): Promise<void> {
  const { token, approvalId } = await stepUp(first);
  await waitFor('every replica to see the hold', () =>
    apis.every((api) => api.service.holds.get(token)?.status === 'pending'),
  );
  const [approve, deny] = await Promise.all([
    resolveOn(first, approvalId, 'approve'),
    resolveOn(second, approvalId, 'deny'),
  ]);
  expect([approve.statusCode, deny.statusCode].sort()).toEqual([200, 409]);
  const winner = approve.statusCode === 200 ? 'approved' : 'denied';
  expect((approve.statusCode === 200 ? approve : deny).json()).toMatchObject({ status: winner });
  await waitFor('every replica to answer the winner', () =>
    apis.every((api) => api.service.holds.get(token)?.status === winner),
  );
  await waitFor('the winner as the compacted topic’s last word', async () => {
    return (await lastWordOnTopic(first, token)) === winner;
  });
  await waitFor('the resolution in the trail', () => trailResolutions(apis, approvalId).length > 0);
  // A loser's record would have been published with the winner's (before the answers): give it time to show.
  await new Promise((r) => setTimeout(r, 300));
  expect(trailResolutions(apis, approvalId)).toEqual([winner]);
}

describe('the audit writer dedups per tenant, not on the bare event_id', () => {
  let trail: TrailApi;
  beforeAll(async () => {
    trail = await startTrailApi();
  });
  afterAll(async () => {
    await trail.close();
  });

  const tenantsOf = async (eventId: string) =>
    (
      await trail.store.select<{ tenant_id: string }>(
        'SELECT tenant_id FROM events WHERE event_id = {id:String} ORDER BY tenant_id',
        { id: eventId },
      )
    ).map((r) => r.tenant_id);

  /** Events published in one call reach the writer together: one flush, one stored-id lookup. */
  const publishTogether = (events: BehavioralEvent[]) =>
    trail.bus.publish(
      trail.topics.events,
      events.map((e) => trail.codec.encode('thoth.v1.BehavioralEvent', agentKey(e.tenant_id, e.agent_id), e)),
    );

  it('stores two tenants’ events that share an event_id, in one flush', async () => {
    await publishTogether([
      behavioralEvent({ event_id: 'shared-1', tenant_id: 'acme-corp', agent_id: 'a' }),
      behavioralEvent({ event_id: 'shared-1', tenant_id: 'globex', agent_id: 'a' }),
    ]);
    await waitFor('both tenants’ rows', async () => (await tenantsOf('shared-1')).length === 2, 10_000);
    expect(await tenantsOf('shared-1')).toEqual(['acme-corp', 'globex']);
  });

  it('stores the second tenant’s event when the first one’s is already stored', async () => {
    // The stored-id lookup reads the flush's agents' rows in the flush's time span: same time, same agent name.
    const at = Date.now();
    const event = (tenant: string, id: string) =>
      behavioralEvent({ event_id: id, tenant_id: tenant, agent_id: 'a', occurred_at: at, ingested_at: at });
    await trail.publishDirect(event('acme-corp', 'shared-2'));
    await waitFor('the first tenant’s row', async () => (await tenantsOf('shared-2')).length === 1);
    // With an event of the first tenant in the same flush, the lookup covers both tenants.
    await publishTogether([event('acme-corp', 'other-2'), event('globex', 'shared-2')]);
    await waitFor('the second tenant’s row', async () => (await tenantsOf('shared-2')).length === 2, 10_000);
    expect(await tenantsOf('shared-2')).toEqual(['acme-corp', 'globex']);
  });

  it('the stored-state lookup reports a stored event for its own tenant only', async () => {
    const at = Date.UTC(2026, 0, 5, 12);
    await trail.store.insertRows('events', [
      {
        tenant_id: 'acme-corp',
        agent_id: 'solo',
        occurred_at: clickhouseTime(at),
        ingested_at: clickhouseTime(at),
        event_id: 'x-1',
        kind: 'behavioral',
        chain_index: 1,
        hash: 'h-x-1',
      },
    ]);
    const spans = ['acme-corp', 'globex'].map((tenantId) => ({
      tenantId,
      agentId: 'solo',
      fromMs: at,
      toMs: at,
    }));
    const lookup = async (tenant_id: string) => {
      const { events } = await storedState(trail.store, spans, [{ tenant_id, event_id: 'x-1' }]);
      return ['acme-corp', 'globex'].filter((tenant) => events.has(tenant, 'x-1'));
    };
    expect(await lookup('globex')).toEqual([]);
    expect(await lookup('acme-corp')).toEqual(['acme-corp']);
  });

  it('still stores a redelivered event of one tenant once', async () => {
    const event = behavioralEvent({ event_id: 'shared-3', tenant_id: 'acme-corp', agent_id: 'a' });
    await trail.publishDirect(event);
    await waitFor('the row', async () => (await tenantsOf('shared-3')).length === 1);
    await trail.publishDirect(event);
    // Same agent, same partition: once the marker is stored, so was (or was not) the copy before it.
    await trail.publishDirect(
      behavioralEvent({ event_id: 'marker-3', tenant_id: 'acme-corp', agent_id: 'a' }),
    );
    await waitFor('the marker', async () => (await tenantsOf('marker-3')).length === 1);
    expect(await tenantsOf('shared-3')).toEqual(['acme-corp']);
  });
});

describe('a feed page stays within its response-size budget', () => {
  // The budget of a feed page (FEED_PAGE_BYTES in soc/audit-queries.ts).
  const BUDGET = 4 * 1024 * 1024;
  let trail: TrailApi;
  beforeAll(async () => {
    trail = await startTrailApi();
  });
  afterAll(async () => {
    await trail.close();
  });

  const feed = async (query: string) => {
    const r = await trail.inject({
      method: 'GET',
      url: `/acme-corp/thoth/governance/feed?${query}`,
      headers: { authorization: `Bearer ${trail.key}` },
    });
    expect(r.statusCode).toBe(200);
    return { bytes: r.rawPayload.length, text: r.payload, body: r.json() as Json };
  };

  it('shows content once per row, cuts a page at the budget and gives the offset to go on from', async () => {
    const big = (i: number) => `MARK-${i}-${'x'.repeat(900_000)}`;
    for (let i = 0; i < 10; i++)
      await trail.publishDirect(
        behavioralEvent({ event_id: `big-${i}`, agent_id: 'big-bot', session_id: 'big', content: big(i) }),
      );
    await waitFor('ten big rows', async () => (await feed('agent_id=big-bot&per_page=1')).body.total === 10);

    const query = 'agent_id=big-bot&per_page=10&sort_by=chain_index&sort_dir=asc';
    const first = await feed(query);
    expect(first.bytes).toBeLessThanOrEqual(BUDGET);
    const rows = first.body.data as Json[];
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(10);
    for (const row of rows) {
      const mark = `MARK-${String(row.event_id).slice(4)}-`;
      expect(first.text.split(mark).length - 1).toBe(1);
    }
    expect(first.body).toMatchObject({ total: 10, page: 1, per_page: 10, next_offset: rows.length });

    // Following next_offset walks every row once, in order, each page within the budget.
    const seen = rows.map((r) => r.event_id);
    let next = first.body.next_offset as number | null;
    while (next !== null) {
      const page = await feed(`${query}&offset=${next}`);
      expect(page.bytes).toBeLessThanOrEqual(BUDGET);
      seen.push(...(page.body.data as Json[]).map((r) => r.event_id));
      next = page.body.next_offset as number | null;
      expect(seen.length).toBeLessThanOrEqual(10);
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `big-${i}`));
  });

  it('a page within the budget still ends where per_page says, with the next offset when more match', async () => {
    const small = await feed('agent_id=big-bot&per_page=1&sort_by=chain_index&sort_dir=asc');
    expect((small.body.data as Json[]).map((r) => r.event_id)).toEqual(['big-0']);
    expect(small.body).toMatchObject({ total: 10, page: 1, per_page: 1, next_offset: 1 });
    const last = await feed('agent_id=big-bot&per_page=1&page=10&sort_by=chain_index&sort_dir=asc');
    expect((last.body.data as Json[]).map((r) => r.event_id)).toEqual(['big-9']);
    expect(last.body.next_offset).toBeNull();
  });
});

describe('an agent-scoped key polls its own agent’s holds only', () => {
  let api: TestApi;
  beforeAll(async () => {
    api = await startTestApi({ policy: POLICY });
  });
  afterAll(async () => {
    await api.close();
  });

  const poll = (token: string, key: string) =>
    api.inject({ method: 'GET', url: `/v1/enforce/hold/${token}`, headers: { 'x-api-key': key } });

  it('answers another agent’s hold like an unknown one (404), its own agent’s normally', async () => {
    const scopedKey = async (agentId: string) =>
      (
        await api.service.control.commands.createApiKey({
          tenantId: 'acme-corp',
          name: agentId,
          permissions: ['execute'],
          agentId,
          createdBy: 'test',
        })
      ).apiKey;
    const other = await scopedKey('other-agent');
    const own = await scopedKey('invoice-processor-v2');
    const { token } = await stepUp(api);

    const foreign = await poll(token, other);
    const unknown = await poll('no-such-token', other);
    expect(foreign.statusCode).toBe(404);
    expect(foreign.json()).toEqual(unknown.json());
    expect((await poll(token, own)).statusCode).toBe(200);
    expect((await poll(token, api.key)).statusCode).toBe(200);
  });
});

describe('approve and deny of one approval at once: exactly one wins', () => {
  it('on one replica', async () => {
    const bus = new MemoryBus({ defaultPartitions: 3 });
    const api = await startTestApi({ bus: slowBus(bus), policy: POLICY });
    try {
      await race([api], api, api);
      await race([api], api, api);
    } finally {
      await api.close();
      await bus.close();
    }
  });

  it('on two replicas sharing an in-process bus', async () => {
    const bus = new MemoryBus({ defaultPartitions: 3 });
    const prefix = uniquePrefix('race');
    const a = await startTestApi({ bus: slowBus(bus), prefix, policy: POLICY });
    const b = await startTestApi({ bus: slowBus(bus), prefix, policy: POLICY });
    try {
      for (let round = 0; round < 3; round++) {
        await race([a, b], a, b);
        await race([a, b], b, a);
      }
    } finally {
      await a.close();
      await b.close();
      await bus.close();
    }
  });

  it('on two replicas, each with its own Kafka client', async () => {
    const kafka = adapters.find((adapter) => adapter.name === 'kafka')!;
    const prefix = uniquePrefix('race-kafka');
    const busA = kafka.create();
    const busB = kafka.create();
    const a = await startTestApi({ bus: busA, prefix, policy: POLICY });
    const b = await startTestApi({ bus: busB, prefix, policy: POLICY });
    try {
      await race([a, b], a, b);
      await race([a, b], b, a);
    } finally {
      await a.close();
      await b.close();
      await busA.close();
      await busB.close();
    }
  });
});
