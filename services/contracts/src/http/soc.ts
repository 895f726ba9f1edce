import { z } from 'zod';
import { tenantParamsSchema } from './keys-and-tenants.ts';

/**
 * The SOC reads of the audit trail (docs/protocol.md §SOC and control-plane reads): the feed, forensics, the
 * evidence chain, its verification, evidence bundles and the live tail.
 */

export const SORT_COLUMNS = [
  'occurred_at',
  'risk_score',
  'tool_name',
  'agent_id',
  'decision',
  'chain_index',
] as const;

const isoDateTime = z.iso.datetime({ offset: true }).or(z.iso.date());
const RELATIVE_TIME = /^-(\d{1,6})(s|m|h|d|w)$/;
const UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
export const TIME_FORMS =
  'an ISO 8601 time (2026-01-31, 2026-01-31T08:00:00Z, 2026-01-31T09:00:00+01:00) or a relative one ' +
  '(now, -30s, -15m, -1h, -7d, -2w)';

/**
 * A time filter (`from`, `to`) as an ISO 8601 string: ISO 8601 as given, or a time relative to now (`now`,
 * `-15m`, `-1h`, `-7d`), resolved when the request is read. A person at a terminal types `-1h` far more
 * readily than a timestamp; the error lists both forms.
 */
export function resolveTime(text: string, now: number): string | undefined {
  const trimmed = text.trim();
  if (trimmed === 'now') return new Date(now).toISOString();
  const relative = RELATIVE_TIME.exec(trimmed);
  if (relative) return new Date(now - Number(relative[1]) * UNIT_MS[relative[2]!]!).toISOString();
  return isoDateTime.safeParse(trimmed).success ? trimmed : undefined;
}

export const isoTime = z
  .string()
  .transform((text, ctx) => {
    const resolved = resolveTime(text, Date.now());
    if (resolved !== undefined) return resolved;
    ctx.addIssue({ code: 'custom', message: `expected ${TIME_FORMS}; got "${text.slice(0, 64)}"` });
    return z.NEVER;
  })
  .describe(TIME_FORMS);

const idParam = z.string().min(1).max(512);

/** GET /{tenant}/thoth/governance/feed */
export const feedFilterSchema = z.object({
  agent_id: z.string().max(512).optional(),
  tool_name: z.string().max(512).optional(),
  decision: z
    .string()
    .transform((d) => d.toUpperCase())
    .pipe(z.enum(['ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY', 'DEFER']))
    .optional(),
  reason_code: z.string().max(128).optional(),
  session_id: z.string().max(512).optional(),
  event_type: z.string().max(64).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  search: z.string().trim().min(1).max(512).optional(),
  sort_by: z.enum(SORT_COLUMNS).default('occurred_at'),
  sort_dir: z.enum(['asc', 'desc']).default('desc'),
  page: z.coerce.number().int().min(1).max(100_000).default(1),
  per_page: z.coerce.number().int().min(1).max(500).default(50),
  /** Rows to skip instead of `page`: where a page cut short by its byte budget says to go on (`next_offset`). */
  offset: z.coerce.number().int().min(0).max(50_000_000).optional(),
});
export type FeedFilter = z.infer<typeof feedFilterSchema>;

/** `/{tenant}/thoth/sessions/{id}/…` and `/{tenant}/thoth/agents/{id}/…` */
export const tenantSubjectParamsSchema = tenantParamsSchema.extend({ id: idParam });

/** GET /{tenant}/thoth/evidence/chain */
export const evidenceChainQuerySchema = z.object({
  agent_id: idParam,
  from_sequence: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});

/** GET or POST /{tenant}/governance/evidence/verify-chain, and GET /v1/stream */
export const agentFilterQuerySchema = z.object({ agent_id: idParam.optional() });

/** A stored row of the audit trail as the API shows it: the columns, and the event's full record. */
export const apiEventSchema = z.object({
  event_id: z.string(),
  kind: z.string().describe('behavioral, decision, finding, hold or admin'),
  event_type: z.string(),
  tenant_id: z.string(),
  agent_id: z.string(),
  session_id: z.string(),
  user_id: z.string(),
  tool_name: z.string(),
  decision: z.string().nullable(),
  reason_code: z.string().nullable(),
  risk_score: z.number(),
  enforcement_mode: z.string().nullable(),
  violation_id: z.string().nullable(),
  enforcement_trace_id: z.string().nullable(),
  content: z.string(),
  occurred_at: z.string(),
  ingested_at: z.string(),
  chain_index: z.int(),
  previous_hash: z.string(),
  hash: z.string(),
  record: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('the full record, less the fields whose value is `content`'),
});
export type ApiEvent = z.infer<typeof apiEventSchema>;

/** A feed page; `next_offset` is where to go on (a page cut short by its size budget), null at the end. */
export const feedPageSchema = z.object({
  data: z.array(apiEventSchema),
  total: z.int(),
  page: z.int(),
  per_page: z.int(),
  next_offset: z.int().nullable(),
});
export type FeedPage = z.infer<typeof feedPageSchema>;

export const sessionSummarySchema = z.object({
  events: z.int(),
  agents: z.array(z.string()),
  first_seen: z.string().nullable(),
  last_seen: z.string().nullable(),
  decisions: z.record(z.string(), z.int()).describe('decisions by value'),
  tool_calls: z.record(z.string(), z.int()).describe('TOOL_CALL_PRE events by tool'),
  violations: z.array(z.string()),
  blocked: z.int(),
  max_risk_score: z.number(),
});
export type SessionSummary = z.infer<typeof sessionSummarySchema>;

/** GET /{tenant}/thoth/sessions/{id}/forensics */
export const sessionForensicsSchema = z.object({
  session_id: z.string(),
  summary: sessionSummarySchema,
  timeline: z.array(apiEventSchema),
});

/** GET /{tenant}/thoth/agents/{id}/forensics/latest */
export const agentForensicsSchema = sessionForensicsSchema.extend({ agent_id: z.string() });

/** GET /{tenant}/thoth/evidence/chain */
export const evidenceChainPageSchema = z.object({
  agent_id: z.string(),
  data: z.array(apiEventSchema),
  from_sequence: z.int(),
  next_sequence: z.int().nullable().describe('null at the end of the chain'),
});

/** The stored columns a chain link hashes (schemas/evidence-chain.md). */
export const chainLinkSchema = z.object({
  tenant_id: z.string(),
  agent_id: z.string(),
  event_id: z.string(),
  kind: z.string(),
  event_type: z.string(),
  session_id: z.string(),
  user_id: z.string(),
  tool_name: z.string(),
  decision: z.string(),
  reason_code: z.string(),
  risk_score: z.number(),
  enforcement_mode: z.string(),
  violation_id: z.string(),
  enforcement_trace_id: z.string(),
  content: z.string(),
  payload: z.string(),
  occurred_at_ms: z.number(),
  chain_index: z.int(),
  previous_hash: z.string(),
  hash: z.string(),
});

/** The answer of verify-chain: the first broken link, and the latest signed checkpoint checked against the chain. */
export const chainVerificationSchema = z.object({
  verified: z.boolean(),
  records_checked: z.int(),
  agents_checked: z.int(),
  chain_head: z.record(z.string(), z.object({ chain_index: z.int(), hash: z.string() })).describe('by agent'),
  breach_detail: z
    .object({
      agent_id: z.string(),
      chain_index: z.int(),
      event_id: z.string(),
      reason: z.enum(['hash_mismatch', 'previous_hash_mismatch', 'index_gap', 'duplicate_index']),
      expected: z.string(),
      found: z.string(),
    })
    .nullable(),
  checkpoint: z
    .object({
      checkpoint_id: z.string(),
      created_at: z.string(),
      key_id: z.string(),
      signature_valid: z.boolean(),
      consistent: z.boolean(),
      contradicted_agents: z.array(z.string()),
    })
    .nullable(),
});
export type ChainVerification = z.infer<typeof chainVerificationSchema>;

const publicKeySchema = z.object({
  key_id: z.string(),
  algorithm: z.literal('ed25519'),
  public_key_pem: z.string(),
});

/** GET /{tenant}/thoth/sessions/{id}/evidence-bundle: verify offline with scripts/verify-bundle.mjs. */
export const evidenceBundleSchema = z.object({
  bundle_version: z.literal(1),
  chain_version: z.literal(1),
  tenant_id: z.string(),
  session_id: z.string(),
  generated_at: z.string(),
  records: z.array(chainLinkSchema),
  checkpoint: z
    .object({
      checkpoint_id: z.string(),
      tenant_id: z.string(),
      created_at: z.string(),
      heads: z.unknown(),
      signature: z.string(),
      key_id: z.string(),
    })
    .nullable()
    .describe('the tenant’s latest signed checkpoint'),
  public_keys: z.array(publicKeySchema),
  signature: z
    .object({ signature: z.string(), signing_algorithm: z.literal('ed25519'), key_id: z.string() })
    .describe('Ed25519 over the canonical JSON of everything else'),
});
export type EvidenceBundle = z.infer<typeof evidenceBundleSchema>;

/** GET /v1/stream: Server-Sent Events. */
export const liveTailStreamSchema = z
  .string()
  .describe(
    'each new record of the tenant (or agent) as `event: event` (a behavioral event) or `event: decision`, ' +
      'its record as JSON on one `data:` line; comments keep the stream open, and `: closed: <reason>` ends ' +
      'a stream the server closes',
  );
