import type { HoldRecord } from './records.ts';

/** A step-up approval as people and their tools see it (API, webhooks). The hold token stays with the agent. */
export function approvalView(h: HoldRecord): Record<string, unknown> {
  return {
    id: h.approval_id,
    status: h.status,
    tenant_id: h.tenant_id,
    agent_id: h.agent_id,
    user_id: h.user_id,
    session_id: h.session_id,
    tool_name: h.tool_name,
    args_digest: h.args_digest,
    args_preview: JSON.parse(h.args_preview_json) as unknown,
    reason: h.reason,
    reason_code: h.reason_code,
    risk_score: h.risk_score,
    finding_ids: h.finding_ids,
    violation_id: h.violation_id,
    enforcement_trace_id: h.enforcement_trace_id,
    created_at: new Date(h.created_at).toISOString(),
    expires_at: new Date(h.expires_at).toISOString(),
    resolved_at: h.resolved_at === null ? null : new Date(h.resolved_at).toISOString(),
    resolved_by: h.resolved_by,
    comment: h.comment,
    approvers: h.approvers ?? [],
    approvals_required: h.approvals_required ?? 1,
    policy_version: h.policy_version ?? 0,
    votes: (h.votes ?? []).map((v) => ({
      principal: v.principal,
      decision: v.decision,
      comment: v.comment,
      at: new Date(v.at).toISOString(),
      args_digest: v.args_digest,
      policy_version: v.policy_version,
    })),
  };
}
