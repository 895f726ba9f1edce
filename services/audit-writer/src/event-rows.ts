import type { BehavioralEvent, DecisionEvent } from '@thoth/common/records';

/** One row of the `events` table (schemas/clickhouse/0001_events.sql). Timestamps as ClickHouse text. */
export interface EventRow {
  tenant_id: string;
  agent_id: string;
  occurred_at: string;
  event_id: string;
  kind: 'behavioral' | 'decision';
  event_type: string;
  session_id: string;
  user_id: string;
  tool_name: string;
  decision: string;
  reason_code: string;
  risk_score: number;
  enforcement_mode: string;
  violation_id: string;
  enforcement_trace_id: string;
  content: string;
  payload: string;
  ingested_at: string;
}

/** DateTime64(3) text that ClickHouse parses on both engines: `2026-11-24 10:00:00.123`. */
export function clickhouseTime(epochMs: number): string {
  return new Date(epochMs).toISOString().replace('T', ' ').replace('Z', '');
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
  return {
    tenant_id: e.tenant_id,
    agent_id: e.agent_id,
    occurred_at: clickhouseTime(e.occurred_at),
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
    payload: JSON.stringify(e),
    ingested_at: clickhouseTime(e.ingested_at),
  };
}

export function decisionEventRow(d: DecisionEvent): EventRow {
  return {
    tenant_id: d.tenant_id,
    agent_id: d.agent_id,
    occurred_at: clickhouseTime(d.occurred_at),
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
    payload: JSON.stringify(d),
    ingested_at: clickhouseTime(d.occurred_at),
  };
}
