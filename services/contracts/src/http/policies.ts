import { z } from 'zod';
import { DECISIONS } from './enforce.ts';
import { tenantParamsSchema } from './keys-and-tenants.ts';
import { isoTime } from './soc.ts';

/**
 * A tenant's policy through the API (docs/control-plane.md, docs/policies.md): its versions, the rules in force,
 * and dry runs. The shapes only: the API compiles a policy (CEL, cost limits) and answers 400 invalid_policy.
 */

/** A policy document (docs/policies.md) as JSON, or its YAML/JSON text. */
export const policyInputSchema = z.union([
  z.string().min(1).max(1_000_000),
  z.record(z.string(), z.unknown()),
]);
export type PolicyInput = z.infer<typeof policyInputSchema>;

/** POST or PUT /{tenant}/thoth/policies */
export const putPolicyBodySchema = z.object({
  policy: policyInputSchema,
  comment: z.string().trim().max(2_000).nullish(),
});

/** GET /{tenant}/thoth/policies/versions/{version} */
export const policyVersionParamsSchema = tenantParamsSchema.extend({
  version: z.coerce.number().int().min(1),
});

/** POST /{tenant}/thoth/policies/dry-run */
export const dryRunBodySchema = z.object({
  policy: policyInputSchema.optional().describe('default: the policy in force'),
  agent_id: z.string().min(1).max(512).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  limit: z.number().int().min(1).max(10_000_000).optional(),
  samples: z.number().int().min(0).max(1_000).default(20),
});

/** One version of a tenant's policy; `document` only where one version is asked for (or was just written). */
export const policyVersionViewSchema = z.object({
  tenant_id: z.string(),
  version: z.int(),
  deleted: z.boolean().describe('a deletion: the tenant fell back to THOTH_POLICY_FILE or the default'),
  rule_count: z.int(),
  created_at: z.string(),
  created_by: z.string(),
  comment: z.string().nullable(),
  document: z.record(z.string(), z.unknown()).optional(),
});
export type PolicyVersionView = z.infer<typeof policyVersionViewSchema>;

/** The rules decisions use now, as written, and where they come from. */
export const policyInForceSchema = z.object({
  version: z.int(),
  source: z.enum(['api', 'file', 'default']),
  file: z.object({ path: z.string(), sha256: z.string() }).nullable().describe('source file only'),
  thresholds: z.object({ warn: z.number(), step_up: z.number(), block: z.number() }),
  session_decay_half_life_seconds: z.number(),
  step_up: z.object({
    timeout_seconds: z.number(),
    approvers: z.array(z.string()),
    approvals_required: z.int(),
  }),
  rule_count: z.int(),
  rules: z.array(
    z.object({
      id: z.string(),
      effect: z.enum(['FLAG', 'STEP_UP', 'BLOCK', 'MODIFY', 'DEFER']),
      tools: z.array(z.string()).nullable(),
      condition: z.string().describe('CEL'),
      reason: z.string(),
      reason_code: z.string(),
      risk_points: z.number(),
      description: z.string().optional(),
      approvers: z.array(z.string()).optional(),
      approvals_required: z.int().optional(),
    }),
  ),
});
export type PolicyInForceView = z.infer<typeof policyInForceSchema>;

/** GET /{tenant}/thoth/policies */
export const policyListSchema = z.object({
  current_version: z.int(),
  source: z.enum(['api', 'file']).describe('file: no API-managed version in force (the file or the default)'),
  data: z.array(policyVersionViewSchema).describe('the API-managed versions, oldest first'),
  in_force: policyInForceSchema,
});

/** POST /{tenant}/thoth/policies/dry-run: what a rule set decides for the recorded calls. */
export const dryRunResultSchema = z.object({
  policy_version: z.int(),
  evaluated: z.int(),
  decisions: z.record(z.enum(DECISIONS), z.int()),
  would_block: z.int(),
  would_step_up: z.int(),
  changed: z.int().describe('calls decided otherwise than recorded'),
  rule_matches: z.record(z.string(), z.int()),
  rule_errors: z.record(z.string(), z.int()),
  samples: z.array(
    z.object({
      event_id: z.string(),
      occurred_at: z.string(),
      agent_id: z.string(),
      session_id: z.string(),
      tool_name: z.string(),
      recorded_decision: z.string(),
      dry_run_decision: z.enum(DECISIONS),
      matched_rule_ids: z.array(z.string()),
      reason: z.string(),
    }),
  ),
  not_replayable: z.object({
    without_replay_inputs: z.int(),
    changed_without_replay_inputs: z.int(),
    note: z.string(),
  }),
  truncated: z.boolean().describe('the deadline stopped the replay: the counts are of what it reached'),
  limits: z.object({ max_events: z.int(), deadline_ms: z.int() }),
  source: z.enum(['current', 'request']),
  window: z.object({
    from: z.string().nullable(),
    to: z.string().nullable(),
    agent_id: z.string().nullable(),
  }),
});
