import type { BehavioralEvent, DecisionEvent } from '@thoth/contracts';
import { storedRecord } from '@thoth/contracts';
import { describe, expect, it } from 'vitest';
import { approvalEventRow, behavioralEventRow, decisionEventRow } from './event-rows.ts';

const behavioral: BehavioralEvent = {
  event_id: 'e1',
  tenant_id: 'acme',
  agent_id: 'agent-1',
  session_id: 's1',
  user_id: 'alice',
  source_type: 'agent_tool_call',
  event_type: 'TOOL_CALL_PRE',
  tool_name: 'search_docs',
  content: 'find "refund policy"',
  metadata_json: JSON.stringify({ tool_args: { q: 'refund' }, authorization_decision: 'ALLOW' }),
  approved_scope: ['search_docs'],
  enforcement_mode: 'progressive',
  session_tool_calls: ['search_docs'],
  occurred_at: Date.UTC(2026, 10, 24, 9, 0, 0, 1),
  ingested_at: Date.UTC(2026, 10, 24, 9, 0, 0, 9),
  ttl: null,
  violation_id: null,
  purpose: 'support',
  data_classification: null,
  task_context_json: null,
  endpoint_id: null,
  hostname: 'worker-1',
  enforcement_trace_id: 'trace-1',
  chain_index: null,
  hash: null,
  previous_hash: null,
  signature: null,
};

const decision: DecisionEvent = {
  event_id: 'd1',
  tenant_id: 'acme',
  agent_id: 'agent-1',
  session_id: 's1',
  user_id: 'alice',
  tool_name: 'refund',
  decision: 'BLOCK',
  would_be_decision: 'BLOCK',
  enforcement_mode: 'block',
  environment: 'prod',
  reason: 'refund above the limit',
  reason_code: 'AMOUNT_LIMIT',
  action_classification: 'payment',
  violation_id: 'v1',
  enforcement_trace_id: 'trace-1',
  risk_score: 130, // the column clamps it to 100, so the payload must keep the original
  matched_rule_ids: ['r1'],
  model_signals: [],
  top_contributors_json: '[]',
  decision_evidence_json: '{}',
  tool_args_json: '{"amount":900}',
  modified_tool_args_json: null,
  hold_token: null,
  policy_version: 3,
  latency_us: 41,
  receipt_signature: 'sig',
  receipt_key_id: 'k1',
  request_id: null,
  replay_json: null,
  receipt_json: null,
  purpose: null,
  data_classification: null,
  occurred_at: Date.UTC(2026, 10, 24, 9, 0, 1, 0),
};

describe('the stored payload', () => {
  it('leaves out what the columns hold, and the record reads back whole (behavioral)', () => {
    const row = behavioralEventRow(behavioral);
    const payload = JSON.parse(row.payload);
    for (const column of [
      'event_id',
      'tenant_id',
      'agent_id',
      'session_id',
      'tool_name',
      'content',
      'occurred_at',
    ])
      expect(payload).not.toHaveProperty(column);
    expect(payload).toMatchObject({
      metadata_json: behavioral.metadata_json,
      ingested_at: behavioral.ingested_at,
    });
    // null stays in the payload: the column holds "" and could not tell it from an empty string.
    expect(payload.violation_id).toBeNull();
    expect(storedRecord(row)).toEqual(behavioral);
  });

  it('keeps a field whose column differs: a null content, a clamped risk score (decision)', () => {
    const nullContent = behavioralEventRow({ ...behavioral, content: null });
    expect(JSON.parse(nullContent.payload).content).toBeNull();
    expect(storedRecord(nullContent)).toEqual({ ...behavioral, content: null });

    const row = decisionEventRow(decision);
    const payload = JSON.parse(row.payload);
    expect(payload).not.toHaveProperty('reason');
    expect(payload).not.toHaveProperty('decision');
    expect(payload.risk_score).toBe(130);
    expect(row.risk_score).toBe(100);
    expect(storedRecord(row)).toEqual(decision);
  });

  it('reads rows written with the full record unchanged, and other kinds store their full record', () => {
    const old = { ...behavioralEventRow(behavioral), payload: JSON.stringify(behavioral) };
    expect(storedRecord(old)).toEqual(behavioral);
    const approval = approvalEventRow({
      token: 'secret',
      approval_id: 'ap1',
      tenant_id: 'acme',
      agent_id: 'agent-1',
      session_id: 's1',
      user_id: 'alice',
      tool_name: 'refund',
      args_digest: 'd',
      args_preview_json: '{}',
      reason: 'needs a person',
      reason_code: 'STEP_UP',
      risk_score: 60,
      violation_id: 'v1',
      enforcement_trace_id: 'trace-1',
      finding_ids: [],
      approvers: [],
      approvals_required: 1,
      policy_version: 0,
      votes: [],
      status: 'pending',
      created_at: 1,
      expires_at: 2,
      resolved_at: null,
      resolved_by: null,
      comment: null,
    });
    expect(JSON.parse(approval.payload)).toMatchObject({ approval_id: 'ap1', agent_id: 'agent-1' });
    expect(storedRecord({ ...approval, payload: 'not json' })).toBeNull();
  });
});
