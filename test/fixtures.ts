import { randomUUID } from 'node:crypto';
import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import type { BaselineSettings } from '../services/baselines/src/agent-baseline.ts';

/** A behavioral event as the ingest API would put it on the bus. */
export function behavioralEvent(overrides: Partial<BehavioralEvent> = {}): BehavioralEvent {
  const now = Date.now();
  return {
    event_id: randomUUID(),
    tenant_id: 'acme-corp',
    agent_id: 'invoice-processor-v2',
    session_id: 'session-1',
    user_id: 'system',
    source_type: 'agent_tool_call',
    event_type: 'TOOL_CALL_PRE',
    tool_name: 'search_docs',
    content: 'search_docs("quarterly report")',
    metadata_json: JSON.stringify({ sdk_language: 'typescript', event_phase: 'pre' }),
    approved_scope: ['search_docs'],
    enforcement_mode: 'progressive',
    session_tool_calls: ['search_docs'],
    occurred_at: now,
    ingested_at: now,
    ttl: null,
    violation_id: null,
    purpose: null,
    data_classification: null,
    task_context_json: null,
    endpoint_id: null,
    hostname: null,
    enforcement_trace_id: null,
    chain_index: null,
    hash: null,
    previous_hash: null,
    signature: null,
    ...overrides,
  };
}

/** A decision event as the enforce path publishes it: an ALLOW of `search_docs`; override what a test is about. */
export function decisionEvent(overrides: Partial<DecisionEvent> = {}): DecisionEvent {
  return {
    event_id: randomUUID(),
    tenant_id: 'acme-corp',
    agent_id: 'invoice-processor-v2',
    session_id: 'session-1',
    user_id: 'system',
    tool_name: 'search_docs',
    decision: 'ALLOW',
    would_be_decision: 'ALLOW',
    enforcement_mode: 'progressive',
    environment: 'prod',
    reason: 'allowed',
    reason_code: 'allowed',
    action_classification: 'read',
    violation_id: randomUUID(),
    enforcement_trace_id: randomUUID(),
    risk_score: 0,
    matched_rule_ids: [],
    model_signals: [],
    top_contributors_json: '[]',
    decision_evidence_json: '{}',
    tool_args_json: null,
    modified_tool_args_json: null,
    hold_token: null,
    policy_version: 1,
    latency_us: 50,
    receipt_signature: 'sig',
    receipt_key_id: 'key',
    request_id: null,
    purpose: null,
    data_classification: null,
    replay_json: null,
    receipt_json: null,
    occurred_at: Date.now(),
    ...overrides,
  };
}

/** A recorded ALLOW decision of one agent's call: `submit_payment` with an amount, or a `search_docs` query. */
export function callDecision(
  tenant: string,
  agent: string,
  i: number,
  at: number,
  tool: string,
  amount: number,
): DecisionEvent {
  return decisionEvent({
    event_id: `${tenant}:${agent}-${i}`,
    tenant_id: tenant,
    agent_id: agent,
    session_id: `${agent}-s${Math.floor(i / 20)}`,
    tool_name: tool,
    violation_id: `${agent}-${i}`,
    enforcement_trace_id: `${agent}-${i}`,
    decision_evidence_json: '{"decided_by":"default","finding_ids":[]}',
    tool_args_json: JSON.stringify(
      tool === 'submit_payment'
        ? { args: [], kwargs: { amount, currency: 'EUR' } }
        : { args: [], kwargs: { query: `q ${i}` } },
    ),
    occurred_at: at,
  });
}

/** Baseline settings for tests: a short learning period, a one-second rate window, UTC; override what a test is about. */
export function testBaselineSettings(overrides: Partial<BaselineSettings> = {}): BaselineSettings {
  return {
    learningCalls: 40,
    learningMs: 0,
    minSamples: 20,
    rateWindowMs: 1_000,
    cooldownMs: 60_000,
    timeZone: 'UTC',
    escalation: { warn: 20, stepUp: 50, block: 80, halfLifeMs: 600_000 },
    ...overrides,
  };
}
