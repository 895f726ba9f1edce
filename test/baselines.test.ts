import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DecisionEvent } from '@thoth/contracts';
import type { Bus } from '@thoth/platform';
import { Store } from '@thoth/platform';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditWriter } from '../services/audit-writer/src/audit-writer.ts';
import type { BaselineSettings } from '../services/baselines/src/agent-baseline.ts';
import { BaselinesConsumer } from '../services/baselines/src/baselines-consumer.ts';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { adapters, quietLog, uniquePrefix, waitFor } from './helpers.ts';

/**
 * The acceptance scenario of behavioral baselines on the real pipeline: enforce API → Kafka → baselines
 * consumer (chDB state) → compacted directives topic on Kafka → the enforce API's decisions.
 */
const kafka = adapters.find((a) => a.name === 'kafka')!;
type Json = Record<string, unknown>;
const tenant = 'acme-corp';
const settings: BaselineSettings = {
  learningCalls: 200,
  learningMs: 0,
  minSamples: 30,
  rateWindowMs: 1_000,
  cooldownMs: 60_000,
  timeZone: 'UTC',
  escalation: { warn: 20, stepUp: 50, block: 80, halfLifeMs: 600_000 },
};
/** Normal pace: 20 calls per second; the burst is 10× that. */
const NORMAL_GAP_MS = 50;
const BURST_GAP_MS = 5;
const SCOPE = ['search_docs', 'read_invoice', 'submit_payment'];

let bus: Bus;
let store: Store;
let api: TestApi;
let writer: AuditWriter;
let baselines: BaselinesConsumer;
let dataDir: string;

const consumer = () =>
  new BaselinesConsumer({
    bus,
    codec: api.codec,
    store,
    eventsTopic: api.topics.events,
    directivesTopic: api.topics.directives,
    log: quietLog,
    settings,
  });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'thoth-baselines-'));
  store = await Store.open({ database: 'thoth', dataDir });
  await store.migrate();
  bus = kafka.create();
  api = await startTestApi({ bus, store, prefix: uniquePrefix('baselines') });
  writer = new AuditWriter({ bus, codec: api.codec, store, eventsTopic: api.topics.events, log: quietLog });
  await writer.start();
  baselines = consumer();
  await baselines.start();
});
afterAll(async () => {
  await baselines?.stop();
  await writer?.stop();
  await api?.close();
  await bus?.close();
  await store?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function enforce(body: Json): Promise<Json> {
  const r = await api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { authorization: `Bearer ${api.key}` },
    payload: enforceBody(body),
  });
  expect(r.statusCode).toBe(200);
  return r.json() as Json;
}

const get = async (url: string, key = api.key) => {
  const r = await api.inject({ method: 'GET', url, headers: { authorization: `Bearer ${key}` } });
  return { status: r.statusCode, body: r.json() as Json };
};

/** One normal call of an agent: searches and invoices, and payments of 10–200 in business hours. */
function normalCall(agent: string, mode: string, i: number): Json {
  const session = `${agent}-s${Math.floor(i / 20)}`;
  const common = { agent_id: agent, session_id: session, approved_scope: SCOPE, enforcement_mode: mode };
  switch (i % 4) {
    case 0:
      return {
        ...common,
        tool_name: 'search_docs',
        tool_args: { args: [], kwargs: { query: `invoices ${i}` } },
      };
    case 1:
      return {
        ...common,
        tool_name: 'read_invoice',
        tool_args: { args: [], kwargs: { invoice_id: `INV-${i}` } },
      };
    default:
      return {
        ...common,
        tool_name: 'submit_payment',
        tool_args: { args: [], kwargs: { amount: 10 + ((i * 37) % 191), currency: 'EUR' } },
      };
  }
}

/** Calls at most one per `gapMs`: a slow call delays the next ones instead of causing a catch-up burst. */
async function paced(calls: Json[], gapMs: number, until?: (response: Json) => boolean): Promise<Json[]> {
  let next = Date.now();
  const responses: Json[] = [];
  for (const call of calls) {
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    next = Math.max(next + gapMs, Date.now());
    const response = await enforce(call);
    responses.push(response);
    if (until?.(response)) break;
  }
  return responses;
}

const decisionOf = (r: Json, observe: boolean) =>
  observe ? (r.would_be_decision ?? r.decision) : r.decision;

/** 500 normal calls, the 50,000 payment, normal pace until STEP_UP, then a 10× burst until BLOCK. */
async function scenario(agent: string, mode: 'progressive' | 'observe') {
  const observe = mode === 'observe';
  const normal = await paced(
    Array.from({ length: 500 }, (_, i) => normalCall(agent, mode, i)),
    NORMAL_GAP_MS,
  );
  expect(normal.every((r) => r.decision === 'ALLOW' && r.would_be_decision === undefined)).toBe(true);
  // Normal traffic raised nothing that escalates (learning-period findings aside).
  await waitFor('500 calls learned', () => baselines.baselineOf(tenant, agent)?.calls === 500);
  expect(baselines.baselineOf(tenant, agent)?.escalation).toEqual([]);
  // The huge payment takes a payment's place in the agent's usual sequence (… pay, pay, search …).
  const trigger = await enforce({
    ...normalCall(agent, mode, 502),
    tool_name: 'submit_payment',
    tool_args: { args: [], kwargs: { amount: 50_000, currency: 'EUR' } },
  });
  expect(trigger.decision).toBe('ALLOW');
  const calm = await paced(
    Array.from({ length: 400 }, (_, i) => normalCall(agent, mode, 503 + i)),
    NORMAL_GAP_MS,
    (r) => decisionOf(r, observe) === 'STEP_UP',
  );
  const burst = await paced(
    Array.from({ length: 2_000 }, (_, i) => normalCall(agent, mode, 1_000 + i)),
    BURST_GAP_MS,
    (r) => decisionOf(r, observe) === 'BLOCK' && (r.decision_evidence as Json).decided_by === 'directive',
  );
  return { normal, calm, burst };
}

function expectEscalation(run: { calm: Json[]; burst: Json[] }, observe: boolean) {
  const stepUp = run.calm.at(-1)!;
  expect(decisionOf(stepUp, observe)).toBe('STEP_UP');
  expect(stepUp.reason).toMatch(/numeric_outlier: submit_payment amount = 50000/);
  expect(stepUp.decision_reason_code).toBe('baseline_numeric_outlier');
  expect((stepUp.decision_evidence as Json).finding_ids).toEqual([expect.any(String)]);
  expect(stepUp.top_contributors).toContainEqual({
    feature: 'baseline:numeric_outlier',
    contribution_points: 56,
  });
  const decisions = run.burst.map((r) => decisionOf(r, observe));
  const firstBlock = decisions.indexOf('BLOCK');
  expect(firstBlock).toBeGreaterThan(0);
  expect(decisions.slice(0, firstBlock).every((d) => d === 'STEP_UP')).toBe(true);
  const block = run.burst.at(-1)!;
  expect(block.reason).toMatch(/block level 80 .*numeric_outlier: .*rate_spike: \d+ calls in 1 s/);
  const contributors = (block.top_contributors as Array<{ feature: string }>).map((c) => c.feature);
  expect(contributors).toEqual(expect.arrayContaining(['baseline:numeric_outlier', 'baseline:rate_spike']));
  expect(((block.decision_evidence as Json).finding_ids as string[]).length).toBeGreaterThanOrEqual(2);
}

describe('behavioral baselines on the real pipeline', () => {
  it('escalates an agent to STEP_UP then BLOCK after a huge payment and a 10× burst; observe mode only records', async () => {
    const [progressive, observed] = await Promise.all([
      scenario('payments-agent', 'progressive'),
      scenario('observed-agent', 'observe'),
    ]);
    expectEscalation(progressive, false);
    expectEscalation(observed, true);
    // Observe mode answers ALLOW every time; the would-be decisions are on the bus for the trail.
    expect([...observed.calm, ...observed.burst].every((r) => r.decision === 'ALLOW')).toBe(true);
    await waitFor('the observe-mode decisions on the bus', () =>
      api.records().some((d) => {
        return (
          d.schema === 'thoth.v1.DecisionEvent' &&
          d.value.agent_id === 'observed-agent' &&
          (d.value as DecisionEvent).would_be_decision === 'BLOCK'
        );
      }),
    );
    const wouldBe = api
      .records()
      .flatMap((d) =>
        d.schema === 'thoth.v1.DecisionEvent' && d.value.agent_id === 'observed-agent' ? [d.value] : [],
      );
    expect(wouldBe.every((d) => d.decision === 'ALLOW')).toBe(true);
    expect(new Set(wouldBe.map((d) => d.would_be_decision))).toEqual(new Set(['ALLOW', 'STEP_UP', 'BLOCK']));
  });

  it('serves the baseline with its escalation, and the findings with filters and pagination', async () => {
    const profile = await get(`/${tenant}/thoth/agents/payments-agent/baseline`);
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({
      agent_id: 'payments-agent',
      learning: false,
      learns_from: 'decisions',
    });
    const pay = (profile.body.tools as Json[]).find((t) => t.tool_name === 'submit_payment') as Json;
    const amount = (pay.numeric_arguments as Record<string, Json>).amount!;
    expect(amount.max).toBeLessThanOrEqual(200);
    expect(amount.p99).toBeGreaterThan(150);
    expect((pay.categorical_arguments as Json).currency).toEqual({ values: { EUR: expect.any(Number) } });
    // The escalation reached BLOCK (≥ 80) in the test before and decays from there (half-life 10 min): by now it
    // may have just crossed back under 80, and its directive to step_up.
    expect(profile.body.enforced_directives).toEqual([
      expect.objectContaining({
        level: expect.stringMatching(/^(block|step_up)$/),
        finding_ids: expect.any(Array),
      }),
    ]);
    expect((profile.body.escalation as Json).anomaly_score).toBeGreaterThan(70);

    await waitFor('findings stored', async () => {
      const r = await get(`/${tenant}/thoth/findings?agent_id=payments-agent&learning=false`);
      return (r.body.total as number) >= 2;
    });
    const outliers = await get(`/${tenant}/thoth/findings?agent_id=payments-agent&detector=numeric_outlier`);
    expect(outliers.body.data).toEqual([
      expect.objectContaining({
        detector: 'numeric_outlier',
        score: 56,
        severity: 'high',
        learning: false,
        observed: { tool: 'submit_payment', argument: 'amount', value: 50_000 },
        baseline: expect.objectContaining({ max: expect.any(Number), p99: expect.any(Number) }),
        event_ids: [expect.stringMatching(/^acme-corp:/)],
      }),
    ]);
    const all = await get(`/${tenant}/thoth/findings?per_page=1&page=2`);
    expect((all.body.data as Json[]).length).toBe(1);
    expect(all.body.total).toBeGreaterThanOrEqual(4);
    const bad = await get(`/${tenant}/thoth/findings?detector=nope`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/querystring\.detector/);
    const other = await api.service.control.commands.createApiKey({
      tenantId: 'other-corp',
      name: 'other',
      permissions: ['read'],
      createdBy: 'test',
    });
    expect((await get(`/${tenant}/thoth/findings`, other.apiKey)).status).toBe(403);
    expect((await get(`/${tenant}/thoth/agents/payments-agent/baseline`, other.apiKey)).status).toBe(403);
    expect((await get(`/${tenant}/thoth/agents/nobody/baseline`)).status).toBe(404);

    const spec = (await api.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Json };
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining(['/{tenant}/thoth/agents/{id}/baseline', '/{tenant}/thoth/findings']),
    );

    // Findings enter the audit trail too, chained like every other event.
    await waitFor('findings in the audit trail', async () => {
      const r = await get(`/${tenant}/thoth/governance/feed?event_type=FINDING&agent_id=payments-agent`);
      return (r.body.total as number) >= 2;
    });
  });

  it('learns every event of an SDK batch, which travels as one bus message', async () => {
    const agent = 'sdk-batch-agent';
    const events = Array.from({ length: 40 }, (_, i) => ({
      event_id: `${tenant}:${agent}-${i}`,
      agent_id: agent,
      session_id: 'sess-batch',
      user_id: 'system',
      source_type: 'agent_tool_call',
      event_type: 'TOOL_CALL_PRE',
      tool_name: SCOPE[i % SCOPE.length],
      content: `call ${i}`,
      occurred_at: new Date(Date.now() - (40 - i) * 1_000).toISOString(),
    }));
    const response = await api.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: { 'x-api-key': api.key },
      payload: { events },
    });
    expect(response.statusCode).toBe(202);
    await waitFor('all 40 calls learned', () => baselines.baselineOf(tenant, agent)?.calls === 40);
    expect(baselines.baselineOf(tenant, agent)?.tools.search_docs?.calls).toBe(14);
  });

  it('a restarted consumer keeps what it learned: no new learning period', async () => {
    const agent = 'restart-agent';
    await paced(
      Array.from({ length: 250 }, (_, i) => normalCall(agent, 'progressive', i)),
      10,
    );
    await waitFor('the consumer learned 250 calls', () => baselines.baselineOf(tenant, agent)?.calls === 250);
    const learned = structuredClone(baselines.baselineOf(tenant, agent)!);
    expect(learned.learning_ended_at).not.toBeNull();
    await baselines.stop();
    baselines = consumer();
    await baselines.start();
    expect(baselines.baselineOf(tenant, agent)).toBeUndefined();

    await enforce({
      ...normalCall(agent, 'progressive', 250),
      tool_name: 'submit_payment',
      tool_args: { args: [], kwargs: { amount: 50_000, currency: 'EUR' } },
    });
    await waitFor('a step-up directive for the restarted agent', () =>
      api.service.directives.forAgent(tenant, agent).some((d) => d.level === 'step_up'),
    );
    const resumed = baselines.baselineOf(tenant, agent)!;
    expect(resumed.calls).toBe(251);
    expect(resumed.learning_ended_at).toBe(learned.learning_ended_at);
    expect(resumed.tools.submit_payment?.calls).toBe(learned.tools.submit_payment!.calls + 1);
    const next = await enforce(normalCall(agent, 'progressive', 251));
    expect(next.decision).toBe('STEP_UP');
  });
});
