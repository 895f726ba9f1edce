import { ADMIN_AGENT_ID } from '@thoth/contracts';
import { z } from 'zod';
import { type EnforcementMode, normalizeScope, type ToolCall } from '../decision/index.ts';
import { budgetedJson } from '../http/json-budget.ts';

/**
 * Strings a receipt signs must survive the trail as they were signed: a lone surrogate does not (Avro writes it as
 * U+FFFD), and the stored decision would no longer match its receipt (docs/receipts.md).
 */
// String.prototype.isWellFormed (ES2024, in every Node this runs on) is outside the ES2023 lib the project types with.
const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
const WELL_FORMED = 'must be well-formed Unicode (no lone surrogates)';
const id = z.string().min(1).max(512).refine(wellFormed, WELL_FORMED);
const optionalText = z.string().max(4_096).nullish();
const MODES = ['observe', 'progressive', 'step_up', 'block'] as const;

/**
 * POST /v1/enforce body (docs/protocol.md §Enforce request). Liberal where the SDK families differ: nulls for absent optionals,
 * Go's empty `user_id`, mode names in any case; unknown fields are ignored.
 */
export const enforceRequestSchema = z.object({
  // The tenant's control-plane changes form the `_admin` evidence chain: no agent may write into it.
  agent_id: id.refine((agent) => agent !== ADMIN_AGENT_ID, `"${ADMIN_AGENT_ID}" is reserved`),
  tenant_id: id,
  tool_name: z.string().min(1).max(512).refine(wellFormed, WELL_FORMED),
  session_id: id,
  user_id: z.string().max(512).nullish(),
  session_tool_calls: z.array(z.string().max(512)).max(10_000).nullish(),
  approved_scope: z.array(z.string().max(512)).max(10_000).nullish(),
  enforcement_mode: z
    .string()
    .transform((m) => m.toLowerCase().replace('-', '_'))
    .pipe(z.enum(MODES))
    .nullish(),
  environment: optionalText,
  enforcement_trace_id: z.string().max(512).refine(wellFormed, WELL_FORMED).nullish(),
  tool_args: budgetedJson().optional(),
  session_intent: optionalText,
  purpose: optionalText,
  data_classification: optionalText,
  task_context: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  identity_binding: budgetedJson().optional(),
  metadata: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  request_id: z.string().max(512).nullish(),
  occurred_at: z.string().max(64).nullish(),
  endpoint_id: optionalText,
  fleet_id: optionalText,
  model_name: optionalText,
  model_provider: optionalText,
});

export type EnforceRequest = z.infer<typeof enforceRequestSchema>;

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
