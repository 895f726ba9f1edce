import type { AdminEvent, BehavioralEvent, DecisionEvent, FindingRecord, HoldRecord } from '@thoth/contracts';
import type { DecodedValue } from '@thoth/platform';

/**
 * One view of everything on the events topic that a SIEM cares about, so each format maps one shape and the
 * filters read one set of fields. Pure: built from the decoded record only.
 */
export type SiemEventKind = 'tool_call' | 'decision' | 'approval' | 'finding' | 'admin';
export type Decision = 'ALLOW' | 'BLOCK' | 'STEP_UP' | 'MODIFY' | 'DEFER';
export type Outcome =
  | 'allowed'
  | 'blocked'
  | 'challenged'
  | 'modified'
  | 'deferred'
  | 'logged'
  | 'approved'
  | 'denied'
  | 'expired'
  | 'detected';
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export interface SiemEvent {
  kind: SiemEventKind;
  /** Stable per event: receivers dedupe redeliveries on it (at-least-once). */
  id: string;
  tenantId: string;
  agentId: string;
  sessionId: string;
  userId: string | null;
  toolName: string;
  /** Epoch milliseconds when it happened. */
  time: number;
  /** What filters match on: TOOL_CALL_PRE | TOOL_CALL_POST | TOOL_CALL_BLOCK | … | DECISION | APPROVAL | FINDING | ADMIN. */
  eventType: string;
  decision: Decision | null;
  outcome: Outcome;
  severity: Severity;
  title: string;
  message: string;
  reason: string | null;
  reasonCode: string | null;
  riskScore: number | null;
  violationId: string | null;
  traceId: string | null;
  hostname: string | null;
  /** Findings: the detector, its related events and whether the agent was still learning. */
  detector: string | null;
  relatedEventIds: string[];
  learning: boolean;
}

/** 0–10, the CEF / LEEF scale. */
export const SEVERITY_SCORE: Record<Severity, number> = { info: 1, low: 3, medium: 5, high: 8, critical: 10 };

export function severityAtLeast(severity: Severity, minimum: Severity): boolean {
  return SEVERITIES.indexOf(severity) >= SEVERITIES.indexOf(minimum);
}

const DECISIONS = new Set<string>(['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER']);
const OUTCOME_OF_DECISION: Record<Decision, Outcome> = {
  ALLOW: 'allowed',
  BLOCK: 'blocked',
  STEP_UP: 'challenged',
  MODIFY: 'modified',
  DEFER: 'deferred',
};

/**
 * Times every format carries: RFC 5424, ECS and LEEF write four-digit years, HEC and CEF count from the epoch.
 * Ingest accepts no other (services/api normalize-events.ts); an event from another producer may carry one.
 */
export const FIRST_EXPORTABLE_MS = 0;
export const LAST_EXPORTABLE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * The record as a SIEM event, or a reason why it is not one (it then goes to the DLQ). Only its schema and value
 * count: a record read from the bus, or rebuilt from the audit trail by a backfill (siem-backfill.ts).
 */
export function toSiemEvent(record: DecodedValue): SiemEvent | { unsupported: string } {
  const event = siemEventOf(record);
  if ('unsupported' in event) return event;
  if (!(event.time >= FIRST_EXPORTABLE_MS && event.time <= LAST_EXPORTABLE_MS))
    return { unsupported: `event time ${event.time} (epoch ms) is outside 1970-01-01 … 9999-12-31` };
  return event;
}

function siemEventOf(record: DecodedValue): SiemEvent | { unsupported: string } {
  switch (record.schema) {
    case 'thoth.v1.BehavioralEvent':
      return fromBehavioral(record.value);
    case 'thoth.v1.DecisionEvent':
      return fromDecision(record.value);
    case 'thoth.v1.Hold':
      return fromHold(record.value);
    case 'thoth.v1.Finding':
      return fromFinding(record.value);
    case 'thoth.v1.AdminEvent':
      return fromAdmin(record.value);
    default:
      return { unsupported: `unexpected ${record.schema} on the events topic` };
  }
}

const base = {
  userId: null,
  decision: null,
  reason: null,
  reasonCode: null,
  riskScore: null,
  violationId: null,
  traceId: null,
  hostname: null,
  detector: null,
  relatedEventIds: [],
  learning: false,
} satisfies Partial<SiemEvent>;

function fromBehavioral(e: BehavioralEvent): SiemEvent {
  const blocked = e.event_type === 'TOOL_CALL_BLOCK';
  return {
    ...base,
    kind: 'tool_call',
    id: e.event_id,
    tenantId: e.tenant_id,
    agentId: e.agent_id,
    sessionId: e.session_id,
    userId: e.user_id || null,
    toolName: e.tool_name,
    time: e.occurred_at,
    eventType: e.event_type,
    decision: blocked ? 'BLOCK' : null,
    outcome: blocked ? 'blocked' : 'logged',
    severity: blocked ? 'high' : 'info',
    title: `Tool call ${e.event_type.replace(/^TOOL_CALL_/, '').toLowerCase()}: ${e.tool_name}`,
    message: e.content ?? '',
    violationId: e.violation_id,
    traceId: e.enforcement_trace_id,
    hostname: e.hostname,
  };
}

function fromDecision(e: DecisionEvent): SiemEvent {
  const decision = DECISIONS.has(e.decision) ? (e.decision as Decision) : null;
  return {
    ...base,
    kind: 'decision',
    id: e.event_id,
    tenantId: e.tenant_id,
    agentId: e.agent_id,
    sessionId: e.session_id,
    userId: e.user_id || null,
    toolName: e.tool_name,
    time: e.occurred_at,
    eventType: 'DECISION',
    decision,
    outcome: decision ? OUTCOME_OF_DECISION[decision] : 'logged',
    severity: decisionSeverity(decision, e.risk_score),
    title: `${e.decision} ${e.tool_name}`,
    message: e.reason,
    reason: e.reason,
    reasonCode: e.reason_code || null,
    riskScore: e.risk_score,
    violationId: e.violation_id || null,
    traceId: e.enforcement_trace_id || null,
  };
}

function decisionSeverity(decision: Decision | null, risk: number): Severity {
  if (decision === 'BLOCK') return 'high';
  if (decision === 'STEP_UP' || decision === 'DEFER') return 'medium';
  if (decision === 'MODIFY') return 'low';
  return risk >= 70 ? 'medium' : risk >= 40 ? 'low' : 'info';
}

const HOLD_OUTCOME: Record<HoldRecord['status'], { outcome: Outcome; severity: Severity }> = {
  pending: { outcome: 'challenged', severity: 'medium' },
  approved: { outcome: 'approved', severity: 'low' },
  denied: { outcome: 'denied', severity: 'medium' },
  expired: { outcome: 'expired', severity: 'low' },
};

function fromHold(h: HoldRecord): SiemEvent {
  const { outcome, severity } = HOLD_OUTCOME[h.status];
  return {
    ...base,
    kind: 'approval',
    // One approval changes state several times: each state is its own event.
    id: `${h.approval_id}:${h.status}`,
    tenantId: h.tenant_id,
    agentId: h.agent_id,
    sessionId: h.session_id,
    userId: h.user_id || null,
    toolName: h.tool_name,
    time: h.resolved_at ?? h.created_at,
    eventType: 'APPROVAL',
    decision: 'STEP_UP',
    outcome,
    severity,
    title: `Approval ${h.status}: ${h.tool_name}`,
    message: h.resolved_by ? `${h.reason} (${h.status} by ${h.resolved_by})` : h.reason,
    reason: h.reason,
    reasonCode: h.reason_code || null,
    riskScore: h.risk_score,
    violationId: h.violation_id || null,
    traceId: h.enforcement_trace_id || null,
    relatedEventIds: h.finding_ids,
  };
}

function fromFinding(f: FindingRecord): SiemEvent {
  return {
    ...base,
    kind: 'finding',
    id: f.finding_id,
    tenantId: f.tenant_id,
    agentId: f.agent_id,
    sessionId: f.session_id,
    toolName: f.tool_name,
    time: f.occurred_at,
    eventType: 'FINDING',
    outcome: 'detected',
    severity: (SEVERITIES as readonly string[]).includes(f.severity) ? f.severity : 'medium',
    title: `Anomaly ${f.detector}: ${f.tool_name}`,
    message: f.explanation,
    reason: f.explanation,
    reasonCode: f.detector,
    riskScore: f.score,
    detector: f.detector,
    relatedEventIds: f.event_ids,
    learning: f.learning,
  };
}

/**
 * A control-plane change (tenant, API key, policy): who did what to which object. Never carries secrets (the
 * record has none). Security-relevant, so never below `low`.
 */
function fromAdmin(a: AdminEvent): SiemEvent {
  return {
    ...base,
    kind: 'admin',
    id: a.event_id,
    tenantId: a.tenant_id,
    agentId: '_admin',
    sessionId: '',
    userId: a.actor,
    toolName: a.target_type,
    time: a.occurred_at,
    eventType: 'ADMIN',
    outcome: 'logged',
    severity: 'low',
    title: `Admin ${a.action}: ${a.target_type} ${a.target_id}`,
    message: `${a.actor} ${a.action} ${a.target_type} ${a.target_id}`,
    reason: null,
    reasonCode: a.action,
  };
}
