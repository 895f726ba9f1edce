import type { BehavioralEvent } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { MemoryBus } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './api-harness.ts';
import { waitFor } from './helpers.ts';

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api.close();
});

function storedEvents(): BehavioralEvent[] {
  return api
    .records()
    .filter((d) => d.schema === 'thoth.v1.BehavioralEvent')
    .map((d) => (d as { value: BehavioralEvent }).value);
}

const OCCURRED = '2026-11-24T10:00:00.000Z';

// The same TOOL_CALL_POST as each SDK family sends it.
const python = (id: string) => [
  {
    event_id: id,
    tenant_id: 'acme-corp',
    agent_id: 'invoice-processor-v2',
    session_id: 'sess-1',
    user_id: 'system',
    source_type: 'agent_tool_call',
    event_type: 'TOOL_CALL_POST',
    tool_name: 'search_docs',
    content: 'Found 3 docs matching: quarterly report',
    metadata: {
      sdk_language: 'python',
      event_phase: 'post',
      duration_ms: 12,
      enforcement_trace_id: 'trace-9',
    },
    approved_scope: ['search_docs'],
    enforcement_mode: 'progressive',
    session_tool_calls: ['search_docs'],
    occurred_at: OCCURRED,
  },
];
const go = (id: string) => ({ events: python(id) });
const typescript = (id: string) => ({
  events: [
    {
      eventId: id,
      tenantId: 'acme-corp',
      agentId: 'invoice-processor-v2',
      sessionId: 'sess-1',
      userId: 'system',
      sourceType: 'agent_tool_call',
      eventType: 'TOOL_CALL_POST',
      toolName: 'search_docs',
      content: 'Found 3 docs matching: quarterly report',
      metadata: {
        sdk_language: 'python',
        event_phase: 'post',
        duration_ms: 12,
        enforcement_trace_id: 'trace-9',
      },
      approvedScope: ['search_docs'],
      enforcementMode: 'progressive',
      sessionToolCalls: ['search_docs'],
      occurredAt: OCCURRED,
    },
  ],
});

async function ingest(payload: unknown, headers: Record<string, string> = { 'x-api-key': api.key }) {
  const response = await api.inject({
    method: 'POST',
    url: '/v1/events/batch',
    headers,
    payload: payload as object,
  });
  return {
    status: response.statusCode,
    body: response.json() as Record<string, unknown>,
    headers: response.headers,
  };
}

describe('ingest dialects', () => {
  it('normalizes a bare array, {events} snake_case and {events} camelCase to one event', async () => {
    expect((await ingest(python('acme-corp:py-1'))).status).toBe(202);
    expect((await ingest(go('acme-corp:go-1'), { authorization: `Bearer ${api.key}` })).status).toBe(202);
    expect((await ingest(typescript('acme-corp:ts-1'))).status).toBe(202);
    await waitFor('three events on the bus', () => storedEvents().length >= 3);
    const byId = new Map(storedEvents().map((e) => [e.event_id, e]));
    const normalized = ['acme-corp:py-1', 'acme-corp:go-1', 'acme-corp:ts-1'].map((id) => {
      const { event_id, ingested_at, ...rest } = byId.get(id)!;
      expect(ingested_at).toBeGreaterThan(0);
      return rest;
    });
    expect(normalized[1]).toEqual(normalized[0]);
    expect(normalized[2]).toEqual(normalized[0]);
    expect(normalized[0]).toMatchObject({
      tenant_id: 'acme-corp',
      event_type: 'TOOL_CALL_POST',
      tool_name: 'search_docs',
      occurred_at: Date.parse(OCCURRED),
      enforcement_trace_id: 'trace-9',
      approved_scope: ['search_docs'],
    });
  });

  it('rejects a malformed event with a per-event error and keeps the valid ones', async () => {
    const good = python('acme-corp:good-1')[0]!;
    const { status, body } = await ingest([
      good,
      { ...good, event_id: 'acme-corp:bad-1', event_type: 'NOT_A_TYPE' },
      'junk',
    ]);
    expect(status).toBe(202);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      { index: 1, event_id: 'acme-corp:bad-1', field: 'event_type', message: expect.any(String) },
      { index: 2, field: '(event)', message: expect.any(String) },
    ]);
  });

  it('answers 400 naming the field when no event is valid, and 403 for another tenant', async () => {
    const { status, body } = await ingest([{ tenant_id: 'acme-corp', event_type: 'TOOL_CALL_PRE' }]);
    expect(status).toBe(400);
    expect(body.message).toMatch(/agent_id/);
    const other = await ingest([{ ...python('x')[0], tenant_id: 'globex' }]);
    expect(other.status).toBe(403);
    // Every dialect names the tenant: camelCase alone, or beside a null snake_case field.
    const { tenant_id: _, ...untenanted } = python('y')[0]!;
    expect((await ingest([{ ...untenanted, tenantId: 'globex' }])).status).toBe(403);
    expect((await ingest([{ ...untenanted, tenant_id: null, tenantId: 'globex' }])).status).toBe(403);
    expect((await ingest({ not: 'events' })).status).toBe(400);
  });

  it('accepts a batch far larger than the SDKs send', async () => {
    const many = Array.from({ length: 5_000 }, (_, i) => ({
      ...python('')[0],
      event_id: `acme-corp:bulk-${i}`,
    }));
    const { status, body } = await ingest(many);
    expect(status).toBe(202);
    expect(body.accepted).toBe(5_000);
  });
});

describe('ingest when the bus is down', () => {
  it('answers 503 with Retry-After, never a silent drop', async () => {
    const failing = new MemoryBus();
    let brokerDown = false; // after the setup (which publishes its key's admin audit event)
    const broken: Bus = {
      ensureTopics: (s) => failing.ensureTopics(s),
      subscribe: (o) => failing.subscribe(o),
      openView: (t, l) => failing.openView(t, l),
      lag: (g, t) => failing.lag(g, t),
      close: () => failing.close(),
      publish: async (topic, messages) => {
        if (brokerDown && topic.endsWith('.events')) throw new Error('broker unreachable');
        return failing.publish(topic, messages);
      },
    };
    const down = await startTestApi({ bus: broken });
    brokerDown = true;
    try {
      const response = await down.inject({
        method: 'POST',
        url: '/v1/events/batch',
        headers: { 'x-api-key': down.key },
        payload: python('acme-corp:lost-1'),
      });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json()).toMatchObject({ error: 'bus_unavailable' });
    } finally {
      await down.close();
      await failing.close();
    }
  });
});
