import type { EnforceRequest } from '@thoth/contracts';
import { type EnforcementMode, normalizeScope, type ToolCall } from '../decision/index.ts';

/** The wire body as the decision logic sees it. */
export function toToolCall(body: EnforceRequest, nowMs: number): ToolCall {
  return {
    tenantId: body.tenant_id,
    agentId: body.agent_id,
    toolName: body.tool_name,
    sessionId: body.session_id,
    userId: body.user_id || 'system',
    sessionToolCalls: body.session_tool_calls ?? [],
    approvedScope: normalizeScope(body.approved_scope ?? []),
    mode: (body.enforcement_mode ?? 'progressive') as EnforcementMode,
    environment: body.environment || 'prod',
    toolArgs: body.tool_args,
    purpose: body.purpose ?? undefined,
    dataClassification: body.data_classification ?? undefined,
    taskContext: body.task_context ?? undefined,
    nowMs,
  };
}
