import type { ChainFields } from '@thoth/contracts';
import {
  ADMIN_AGENT_ID,
  type AdminEvent,
  type BehavioralEvent,
  type DecisionEvent,
  type FindingRecord,
  type HoldRecord,
  payloadOf,
} from '@thoth/contracts';

/** An event about to be stored: the columns the chain covers, plus when Thoth received it. */
export interface EventRow extends ChainFields {
  kind: 'behavioral' | 'decision' | 'approval' | 'admin' | 'finding';
  ingested_at_ms: number;
}

function decisionFromMetadata(metadataJson: string): string {
  try {
    const metadata = JSON.parse(metadataJson) as { authorization_decision?: unknown };
    return typeof metadata.authorization_decision === 'string' ? metadata.authorization_decision : '';
  } catch {
    return '';
  }
}

export function behavioralEventRow(e: BehavioralEvent): EventRow {
  const row: EventRow = {
    tenant_id: e.tenant_id,
    agent_id: e.agent_id,
    occurred_at_ms: e.occurred_at,
    event_id: e.event_id,
    kind: 'behavioral',
    event_type: e.event_type,
    session_id: e.session_id,
    user_id: e.user_id,
    tool_name: e.tool_name,
    decision: decisionFromMetadata(e.metadata_json),
    reason_code: '',
    risk_score: 0,
    enforcement_mode: e.enforcement_mode ?? '',
    violation_id: e.violation_id ?? '',
    enforcement_trace_id: e.enforcement_trace_id ?? '',
    content: e.content ?? '',
    payload: '',
    ingested_at_ms: e.ingested_at,
  };
  row.payload = payloadOf(e, row);
  return row;
}

export function decisionEventRow(d: DecisionEvent): EventRow {
  const row: EventRow = {
    tenant_id: d.tenant_id,
    agent_id: d.agent_id,
    occurred_at_ms: d.occurred_at,
    event_id: d.event_id,
    kind: 'decision',
    event_type: 'DECISION',
    session_id: d.session_id,
    user_id: d.user_id,
    tool_name: d.tool_name,
    decision: d.decision,
    reason_code: d.reason_code,
    risk_score: Math.max(0, Math.min(100, d.risk_score)),
    enforcement_mode: d.enforcement_mode,
    violation_id: d.violation_id,
    enforcement_trace_id: d.enforcement_trace_id,
    content: d.reason,
    payload: '',
    ingested_at_ms: d.occurred_at,
  };
  row.payload = payloadOf(d, row);
  return row;
}

const APPROVAL_OUTCOME: Record<HoldRecord['status'], string> = {
  pending: 'STEP_UP',
  approved: 'ALLOW',
  denied: 'BLOCK',
  expired: 'BLOCK',
};

/**
 * A step-up approval's state change (requested, a vote that does not decide yet, approved, denied, expired): who,
 * when, and the outcome. The payload carries every vote so far (principal, decision, args digest, policy version).
 */
export function approvalEventRow(h: HoldRecord): EventRow {
  const votes = h.votes ?? [];
  const vote = h.status === 'pending' && votes.length > 0 ? votes[votes.length - 1] : undefined;
  const at = vote?.at ?? h.resolved_at ?? h.created_at;
  return {
    tenant_id: h.tenant_id,
    agent_id: h.agent_id,
    occurred_at_ms: at,
    event_id: vote
      ? `${h.tenant_id}:${h.approval_id}:vote:${votes.length}`
      : `${h.tenant_id}:${h.approval_id}:${h.status}`,
    kind: 'approval',
    event_type: vote
      ? 'APPROVAL_VOTE'
      : h.status === 'pending'
        ? 'APPROVAL_REQUESTED'
        : `APPROVAL_${h.status.toUpperCase()}`,
    session_id: h.session_id,
    user_id: h.user_id,
    tool_name: h.tool_name,
    decision: APPROVAL_OUTCOME[h.status],
    reason_code: h.reason_code,
    risk_score: Math.max(0, Math.min(100, h.risk_score)),
    enforcement_mode: '',
    violation_id: h.violation_id,
    enforcement_trace_id: h.enforcement_trace_id,
    content: vote
      ? `${vote.decision} ${votes.length}/${h.approvals_required ?? 1} by ${vote.principal.email ?? vote.principal.subject ?? vote.principal.name ?? vote.principal.kind}`
      : h.status === 'pending'
        ? h.reason
        : `${h.status} by ${h.resolved_by ?? 'unknown'}${h.comment ? `: ${h.comment}` : ''}`,
    payload: JSON.stringify({ ...h, token: undefined }),
    ingested_at_ms: at,
  };
}

/**
 * A control-plane change (tenant, API key, policy) in the tenant's `_admin` chain: who (user_id), what
 * (event_type ADMIN_<ACTION>, target), and the before → after views in the payload.
 */
export function adminEventRow(a: AdminEvent): EventRow {
  return {
    tenant_id: a.tenant_id,
    agent_id: ADMIN_AGENT_ID,
    occurred_at_ms: a.occurred_at,
    event_id: a.event_id,
    kind: 'admin',
    event_type: `ADMIN_${a.action.toUpperCase().replaceAll('.', '_')}`,
    session_id: '',
    user_id: a.actor,
    tool_name: '',
    decision: '',
    reason_code: '',
    risk_score: 0,
    enforcement_mode: '',
    violation_id: '',
    enforcement_trace_id: '',
    content: `${a.action} ${a.target_type} ${a.target_id} by ${a.actor}`,
    payload: JSON.stringify(a),
    ingested_at_ms: a.occurred_at,
  };
}

/** A behavioral-baseline finding (services/baselines): which detector, how strong, what it saw. */
export function findingEventRow(f: FindingRecord): EventRow {
  return {
    tenant_id: f.tenant_id,
    agent_id: f.agent_id,
    occurred_at_ms: f.occurred_at,
    event_id: f.finding_id,
    kind: 'finding',
    event_type: 'FINDING',
    session_id: f.session_id,
    user_id: '',
    tool_name: f.tool_name,
    decision: '',
    reason_code: f.detector,
    risk_score: Math.max(0, Math.min(100, f.score)),
    enforcement_mode: '',
    violation_id: '',
    enforcement_trace_id: '',
    content: f.explanation,
    payload: JSON.stringify(f),
    ingested_at_ms: f.occurred_at,
  };
}
