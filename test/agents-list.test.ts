import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DirectiveRecord, FindingRecord } from '@thoth/contracts';
import { directiveKey } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AgentBaseline, newBaseline } from '../services/baselines/src/agent-baseline.ts';
import { insertFindings, saveBaselines } from '../services/baselines/src/baseline-store.ts';
import { startTestApi, type TestApi } from './api-harness.ts';
import { adapters, uniquePrefix, waitFor } from './helpers.ts';

/**
 * GET /{tenant}/thoth/agents: every agent with a baseline, its state (learning / active), the escalation the
 * enforce API holds for it (directives topic), when it was last seen and its findings of the last 24 h.
 */
const kafka = adapters.find((a) => a.name === 'kafka')!;
const tenant = 'acme-corp';
const HOUR = 3_600_000;
type Json = Record<string, unknown>;

let bus: Bus;
let store: Store;
let api: TestApi;
let dataDir: string;
const now = Date.now();

function baseline(tenantId: string, agentId: string, patch: Partial<AgentBaseline>): AgentBaseline {
  return { ...newBaseline(tenantId, agentId, now - 10 * HOUR), version: 1, ...patch };
}

function finding(agentId: string, id: string, occurredAt: number): FindingRecord {
  return {
    finding_id: id,
    tenant_id: tenant,
    agent_id: agentId,
    session_id: 's1',
    tool_name: 'submit_payment',
    detector: 'numeric_outlier',
    score: 40,
    severity: 'medium',
    explanation: 'amount far above the usual',
    observed_json: '{}',
    baseline_json: '{}',
    event_ids: [],
    learning: false,
    occurred_at: occurredAt,
  };
}

function directive(agentId: string, patch: Partial<DirectiveRecord>): DirectiveRecord {
  return {
    tenant_id: tenant,
    agent_id: agentId,
    session_id: null,
    tool_name: null,
    level: 'warn',
    score: 20,
    reason: 'unusual',
    reason_code: 'rate_anomaly',
    finding_ids: [],
    contributions: [],
    signals: [],
    updated_at: now,
    expires_at: now + 600_000,
    ...patch,
  };
}

const get = async (url: string, key = api.key) => {
  const r = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  return { status: r.statusCode, body: r.json() as Json };
};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-agents-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  bus = kafka.create();
  api = await startTestApi({ bus, store, prefix: uniquePrefix('agents') });
  // Saved in this order: "learner" is the most recently updated.
  await saveBaselines(
    store,
    [
      baseline(tenant, 'veteran', {
        calls: 900,
        learning_ended_at: now - 5 * HOUR,
        last_seen_at: now - HOUR,
      }),
      baseline('beta-corp', 'other-tenant-agent', { calls: 5 }),
    ],
    now - 2_000,
  );
  await saveBaselines(store, [baseline(tenant, 'learner', { calls: 12, last_seen_at: now - 60_000 })], now);
  await insertFindings(store, [
    finding('veteran', 'fnd_recent_1', now - 2 * HOUR),
    finding('veteran', 'fnd_recent_2', now - 30 * 60_000),
    finding('veteran', 'fnd_old', now - 30 * HOUR),
    finding('learner', 'fnd_too_old', now - 25 * HOUR),
  ]);
  await bus.publish(
    api.topics.directives,
    [
      directive('veteran', { level: 'warn', score: 25, tool_name: 'search_docs' }),
      directive('veteran', { level: 'step_up', score: 55 }),
      directive('veteran', { level: 'block', score: 90, session_id: 'old', expires_at: now - 1_000 }),
    ].map((d) => api.codec.encode('thoth.v1.Directive', directiveKey(d), d)),
  );
});
afterAll(async () => {
  await api?.close();
  await bus?.close();
  await store?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('GET /{tenant}/thoth/agents', () => {
  it('lists the tenant’s agents with baseline state, escalation, last seen and findings of the last 24 h', async () => {
    await waitFor('the directives in the index', async () => {
      const { body } = await get(`/${tenant}/thoth/agents`);
      const rows = body.data as Json[];
      return rows.find((a) => a.agent_id === 'veteran')?.escalation_level === 'step_up';
    });
    const { status, body } = await get(`/${tenant}/thoth/agents`);
    expect(status).toBe(200);
    expect(body.total).toBe(2);
    expect(body.limit).toBe(500);
    expect(body.data).toEqual([
      {
        agent_id: 'learner',
        baseline_state: 'learning',
        calls: 12,
        escalation_level: null,
        escalation_score: null,
        last_seen_at: new Date(now - 60_000).toISOString(),
        findings_24h: 0,
        last_finding_at: null,
      },
      {
        agent_id: 'veteran',
        baseline_state: 'active',
        calls: 900,
        // The strongest unexpired directive: the expired block one no longer counts.
        escalation_level: 'step_up',
        escalation_score: 55,
        last_seen_at: new Date(now - HOUR).toISOString(),
        findings_24h: 2,
        last_finding_at: new Date(now - 30 * 60_000).toISOString(),
      },
    ]);
    expect(JSON.stringify(body)).not.toContain('other-tenant-agent');
    const spec = (await api.inject({ method: 'GET', url: '/openapi.json' })).json() as {
      paths: Record<string, { get?: { responses?: Record<string, unknown> } }>;
    };
    expect(spec.paths['/{tenant}/thoth/agents']?.get?.responses?.['200']).toBeDefined();
  });

  it('is bounded by limit (default 500, at most 1000) and filters by agent_id', async () => {
    const one = await get(`/${tenant}/thoth/agents?limit=1`);
    expect(one.status).toBe(200);
    expect((one.body.data as Json[]).map((a) => a.agent_id)).toEqual(['learner']);
    expect(one.body.total).toBe(2);
    expect((await get(`/${tenant}/thoth/agents?limit=1001`)).status).toBe(400);
    expect((await get(`/${tenant}/thoth/agents?limit=0`)).status).toBe(400);
    const named = await get(`/${tenant}/thoth/agents?agent_id=veteran`);
    expect((named.body.data as Json[]).map((a) => a.agent_id)).toEqual(['veteran']);
    expect(named.body.total).toBe(1);
  });

  it('needs read permission on the tenant; an agent-scoped key sees its own agent only', async () => {
    const { apiKey: executeOnly } = await api.service.control.commands.createApiKey({
      tenantId: tenant,
      name: 'execute-only',
      permissions: ['execute'],
      createdBy: 'test',
    });
    expect((await get(`/${tenant}/thoth/agents`, executeOnly)).status).toBe(403);
    const { apiKey: otherTenant } = await api.service.control.commands.createApiKey({
      tenantId: 'beta-corp',
      name: 'beta-reader',
      permissions: ['read'],
      createdBy: 'test',
    });
    const refused = await get(`/${tenant}/thoth/agents`, otherTenant);
    expect(refused.status).toBe(403);
    expect(JSON.stringify(refused.body)).not.toContain('veteran');
    const own = await get('/beta-corp/thoth/agents', otherTenant);
    expect((own.body.data as Json[]).map((a) => a.agent_id)).toEqual(['other-tenant-agent']);
    const { apiKey: scoped } = await api.service.control.commands.createApiKey({
      tenantId: tenant,
      name: 'learner-reader',
      permissions: ['read'],
      agentId: 'learner',
      createdBy: 'test',
    });
    expect((await get(`/${tenant}/thoth/agents`, scoped)).status).toBe(403);
    expect((await get(`/${tenant}/thoth/agents?agent_id=veteran`, scoped)).status).toBe(403);
    const mine = await get(`/${tenant}/thoth/agents?agent_id=learner`, scoped);
    expect((mine.body.data as Json[]).map((a) => a.agent_id)).toEqual(['learner']);
  });
});
