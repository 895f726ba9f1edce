import { z } from 'zod';
import { ADMIN_AGENT_ID } from '../records.ts';
import { budgetedJson } from './json-budget.ts';

/**
 * POST /v1/enforce (docs/protocol.md §Enforce): the body an SDK sends, and the envelope every SDK family reads.
 */

/**
 * Strings a receipt signs must survive the trail as they were signed: a lone surrogate does not (Avro writes it as
 * U+FFFD), and the stored decision would no longer match its receipt (docs/receipts.md).
 */
// String.prototype.isWellFormed (ES2024, in every Node this runs on) is outside the ES2023 lib the project types with.
export const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();
const WELL_FORMED = 'must be well-formed Unicode (no lone surrogates)';
/** The body's bounds, shared with the hand check of enforce-plain.ts. */
export const ENFORCE_LIMITS = { name: 512, text: 4_096, list: 10_000, occurredAt: 64 } as const;
const L = ENFORCE_LIMITS;
const id = z.string().min(1).max(L.name).refine(wellFormed, WELL_FORMED);
const optionalText = z.string().max(L.text).nullish();
export const ENFORCEMENT_MODES = ['observe', 'progressive', 'step_up', 'block'] as const;
/** A mode as the SDK families spell it, as the schema reads it: any case, `_` for the first `-`. */
export const normalizeMode = (mode: string) => mode.toLowerCase().replace('-', '_');

/**
 * The request body (docs/protocol.md §Enforce request). Liberal where the SDK families differ: nulls for absent
 * optionals, Go's empty `user_id`, mode names in any case; unknown fields are ignored.
 */
export const enforceRequestSchema = z.object({
  // The tenant's control-plane changes form the `_admin` evidence chain: no agent may write into it.
  agent_id: id.refine((agent) => agent !== ADMIN_AGENT_ID, `"${ADMIN_AGENT_ID}" is reserved`),
  tenant_id: id,
  tool_name: z.string().min(1).max(L.name).refine(wellFormed, WELL_FORMED),
  session_id: id,
  user_id: z.string().max(L.name).nullish(),
  session_tool_calls: z.array(z.string().max(L.name)).max(L.list).nullish(),
  approved_scope: z.array(z.string().max(L.name)).max(L.list).nullish(),
  enforcement_mode: z.string().transform(normalizeMode).pipe(z.enum(ENFORCEMENT_MODES)).nullish(),
  environment: optionalText,
  enforcement_trace_id: z.string().max(L.name).refine(wellFormed, WELL_FORMED).nullish(),
  tool_args: budgetedJson().optional(),
  session_intent: optionalText,
  purpose: optionalText,
  data_classification: optionalText,
  task_context: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  identity_binding: budgetedJson().optional(),
  metadata: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  request_id: z.string().max(L.name).nullish(),
  occurred_at: z.string().max(L.occurredAt).nullish(),
  endpoint_id: optionalText,
  fleet_id: optionalText,
  model_name: optionalText,
  model_provider: optionalText,
});
export type EnforceRequest = z.infer<typeof enforceRequestSchema>;

export const DECISIONS = ['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER'] as const;
const decision = z.enum(DECISIONS);

/** The signed receipt of an answer, in its Merkle form (the default; docs/receipts.md). */
export const merkleReceiptSchema = z.object({
  signature: z.string().describe('Ed25519 over the batch head, base64url'),
  signing_algorithm: z.literal('ed25519'),
  key_id: z.string(),
  issued_at: z.string(),
  receipt_format: z.literal('merkle-v1'),
  tree_size: z.int(),
  leaf_index: z.int(),
  root: z.string(),
  audit_path: z.array(z.string()),
  signed_at: z.string(),
});

/** The per-decision form (THOTH_RECEIPTS=per-decision): Ed25519 over the canonical JSON of the signed decision. */
export const perDecisionReceiptSchema = z.object({
  signature: z.string(),
  signing_algorithm: z.literal('ed25519'),
  key_id: z.string(),
  issued_at: z.string(),
});

// Merkle first: the shorter form would also accept a Merkle receipt, less its proof.
export const receiptSchema = z.union([merkleReceiptSchema, perDecisionReceiptSchema]);

/** The answer of POST /v1/enforce (docs/protocol.md §Enforce response and §Decision-specific fields). */
export const enforceResponseSchema = z.object({
  decision: decision.describe('SDKs treat any other value as BLOCK'),
  authorization_decision: decision.describe('the same value as `decision`'),
  reason: z.string(),
  decision_reason_code: z.string(),
  action_classification: z.enum(['read', 'write', 'delete', 'execute', 'network', 'unknown']),
  decision_id: z.string().describe('a ULID'),
  violation_id: z.string().optional().describe('on BLOCK, DEFER and STEP_UP: equal to decision_id'),
  risk_score: z.int().min(0).max(100).describe('the session’s accumulated risk after this call'),
  latency_ms: z.number().describe('the server’s evaluation time (signing excluded)'),
  enforcement_trace_id: z.string(),
  matched_rule_ids: z.array(z.string()),
  model_signals: z.array(z.string()),
  score_components: z
    .record(z.string(), z.number())
    .optional()
    .describe('risk points by source; absent on a plain ALLOW unless ?detail=full'),
  top_contributors: z
    .array(z.object({ feature: z.string(), contribution_points: z.number() }))
    .optional()
    .describe('up to five, largest first; absent on a plain ALLOW unless ?detail=full'),
  decision_evidence: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('how the decision was reached; absent on a plain ALLOW unless ?detail=full'),
  policy_version: z.int(),
  receipt: receiptSchema,
  decision_envelope_version: z.literal('1'),
  would_be_decision: decision.optional().describe('when it differs from `decision` (observe mode)'),
  warning: z.string().optional(),
  hold_token: z.string().optional().describe('STEP_UP: poll GET /v1/enforce/hold/{hold_token}'),
  step_up_timeout_seconds: z.int().optional().describe('STEP_UP'),
  modified_tool_args: z.unknown().optional().describe('MODIFY: the arguments, in the shape received'),
  modification_reason: z.string().optional().describe('MODIFY'),
  defer_reason: z.string().optional().describe('DEFER'),
  defer_timeout_seconds: z.int().optional().describe('DEFER'),
});
export type EnforceResponse = z.infer<typeof enforceResponseSchema>;
