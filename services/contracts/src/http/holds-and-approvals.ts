import { z } from 'zod';
import { tenantParamsSchema } from './keys-and-tenants.ts';
import { pageOf, pageQuerySchema } from './pages.ts';

/**
 * A STEP_UP hold as the agent polls it (docs/protocol.md §Holds), and as people resolve it through the approvals
 * API (§Resolving a hold).
 */

const HOLD_STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;

/** GET /v1/enforce/hold/{token} */
export const holdParamsSchema = z.object({ token: z.string().min(1).max(256) });

/** A poll's answer: never MODIFY or DEFER, and never STEP_UP once resolved (docs/protocol.md §Poll answers). */
export const holdPollAnswerSchema = z.object({
  token: z.string(),
  violation_id: z.string(),
  expires_at: z.string().describe('ISO-8601'),
  resolved: z.boolean(),
  resolution: z.enum(['ALLOW', 'BLOCK']).nullable().describe('null while pending'),
  decision: z.enum(['STEP_UP', 'ALLOW', 'BLOCK']).describe('STEP_UP while pending'),
  status: z.enum(HOLD_STATUSES),
  reason: z.string().optional().describe('once resolved: the approver’s comment, who decided, or the expiry'),
});
export type HoldPollAnswer = z.infer<typeof holdPollAnswerSchema>;

/** `/{tenant}/thoth/approvals/{id}` */
export const approvalParamsSchema = tenantParamsSchema.extend({ id: z.string().min(1).max(128) });

/** GET /{tenant}/thoth/approvals */
export const approvalsQuerySchema = z.object({
  status: z.enum(HOLD_STATUSES).optional(),
  ...pageQuerySchema.shape,
});

/** POST /{tenant}/thoth/approvals/{id}/resolve: one vote. */
export const resolveApprovalBodySchema = z.object({
  decision: z.enum(['approve', 'deny']),
  comment: z.string().trim().max(2_000).nullish(),
});

/** Who acted (a person, a key, or the admin token), as the approvals topic records it. */
export const principalRecordSchema = z.object({
  kind: z.enum(['person', 'key', 'admin-token']),
  issuer: z.string().nullable(),
  subject: z.string().nullable(),
  email: z.string().nullable(),
  key_id: z.string().nullable(),
  name: z.string().nullable(),
});

/** A step-up approval as people and their tools see it (API, webhooks): never the hold token. */
export const approvalViewSchema = z.object({
  id: z.string().describe('apr_<decision_id>'),
  status: z.enum(HOLD_STATUSES),
  tenant_id: z.string(),
  agent_id: z.string(),
  user_id: z.string(),
  session_id: z.string(),
  tool_name: z.string(),
  args_digest: z.string().describe('SHA-256 of the canonical JSON of the call’s arguments'),
  args_preview: z.unknown().describe('the arguments, redacted and shortened for people'),
  reason: z.string(),
  reason_code: z.string(),
  risk_score: z.int(),
  finding_ids: z.array(z.string()),
  violation_id: z.string(),
  enforcement_trace_id: z.string(),
  created_at: z.string(),
  expires_at: z.string(),
  resolved_at: z.string().nullable(),
  resolved_by: z.string().nullable(),
  comment: z.string().nullable(),
  approvers: z.array(z.string()).describe('IdP groups whose members may vote; empty: any approver'),
  approvals_required: z.int(),
  policy_version: z.int(),
  votes: z.array(
    z.object({
      principal: principalRecordSchema,
      decision: z.enum(['approve', 'deny']),
      comment: z.string().nullable(),
      at: z.string(),
      args_digest: z.string(),
      policy_version: z.int(),
    }),
  ),
});
export type ApprovalView = z.infer<typeof approvalViewSchema>;

export const approvalListSchema = pageOf(approvalViewSchema);
