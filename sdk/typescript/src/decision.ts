/** The enforcer's answers, read defensively (docs/protocol.md §Enforce response). Pure. */

export type Decision = 'ALLOW' | 'BLOCK' | 'STEP_UP' | 'MODIFY' | 'DEFER';
const DECISIONS: readonly string[] = ['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'];

export interface EnforceDecision {
  decision: Decision;
  reason: string;
  decisionReasonCode: string;
  violationId: string | undefined;
  riskScore: number | undefined;
  enforcementTraceId: string | undefined;
  holdToken: string | undefined;
  stepUpTimeoutSeconds: number | undefined;
  /** Present (possibly null) only when the answer carried `modified_tool_args`. */
  modifiedToolArgs: { value: unknown } | undefined;
  deferTimeoutSeconds: number | undefined;
}

type Wire = Record<string, unknown>;

const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isFinite(value) ? value : undefined;

/**
 * An unknown or missing decision is a BLOCK: a server newer than this SDK must not turn a refusal into a
 * silent ALLOW. A STEP_UP without a hold token cannot be waited on, so it is a BLOCK too.
 */
export function readEnforceDecision(body: unknown): EnforceDecision {
  const wire: Wire = typeof body === 'object' && body !== null ? (body as Wire) : {};
  const raw = (text(wire.decision) ?? text(wire.authorization_decision) ?? '').toUpperCase();
  let decision: Decision = DECISIONS.includes(raw) ? (raw as Decision) : 'BLOCK';
  let reason = text(wire.reason) ?? text(wire.defer_reason) ?? '';
  const holdToken = text(wire.hold_token);
  if (decision === 'STEP_UP' && !holdToken) {
    decision = 'BLOCK';
    reason = `step-up required but the enforcer sent no hold token${reason ? ` (${reason})` : ''}`;
  } else if (!DECISIONS.includes(raw)) {
    reason = `unrecognized decision ${JSON.stringify(wire.decision ?? null)} from the enforcer`;
  }
  return {
    decision,
    reason: reason || defaultReason(decision),
    decisionReasonCode:
      text(wire.decision_reason_code) ?? (decision === 'ALLOW' ? 'allowed' : 'policy_decision'),
    violationId: text(wire.violation_id),
    riskScore: num(wire.risk_score),
    enforcementTraceId: text(wire.enforcement_trace_id),
    holdToken,
    stepUpTimeoutSeconds: num(wire.step_up_timeout_seconds),
    modifiedToolArgs: 'modified_tool_args' in wire ? { value: wire.modified_tool_args } : undefined,
    deferTimeoutSeconds: num(wire.defer_timeout_seconds),
  };
}

function defaultReason(decision: Decision): string {
  return decision === 'ALLOW' ? 'allowed' : `the enforcer answered ${decision}`;
}

export type HoldState = { resolved: false } | { resolved: true; approved: boolean; reason: string };

/** A hold poll: anything resolved that is not an explicit ALLOW is a refusal. */
export function readHoldState(body: unknown): HoldState {
  const wire: Wire = typeof body === 'object' && body !== null ? (body as Wire) : {};
  if (wire.resolved !== true) return { resolved: false };
  const decision = (text(wire.decision) ?? text(wire.resolution) ?? '').toUpperCase();
  const approved = decision === 'ALLOW';
  return {
    resolved: true,
    approved,
    reason: text(wire.reason) ?? (approved ? 'approved' : 'the step-up was denied'),
  };
}

/** DEFER's reason names when to retry, so a person reading the error knows what to do. */
export function deferReason(reason: string, retryAfterSeconds: number | undefined): string {
  return retryAfterSeconds === undefined
    ? `${reason} (deferred)`
    : `${reason} (deferred: retry in ${retryAfterSeconds} s)`;
}
