import { z } from 'zod';
import { pageOf, pageQuerySchema } from './pages.ts';
import { isoTime } from './soc.ts';

/** Behavioral baselines through the API (docs/baselines.md#api): agents, an agent's profile, findings. */

const idParam = z.string().min(1).max(512);
const ESCALATION_LEVELS = ['warn', 'step_up', 'block'] as const;
export const DETECTORS = [
  'first_seen_tool',
  'rare_tool',
  'rate_spike',
  'numeric_outlier',
  'novel_arg_key',
  'novel_arg_value',
  'unusual_transition',
  'off_hours',
  'blocked_burst',
] as const;

/** GET /{tenant}/thoth/findings */
export const findingsFilterSchema = z.object({
  agent_id: idParam.optional(),
  detector: z.enum(DETECTORS).optional(),
  severity: z.enum(['info', 'low', 'medium', 'high', 'critical']).optional(),
  session_id: idParam.optional(),
  tool_name: idParam.optional(),
  learning: z.enum(['true', 'false']).optional(),
  min_score: z.coerce.number().int().min(0).max(100).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  ...pageQuerySchema.shape,
});
export type FindingsFilter = z.infer<typeof findingsFilterSchema>;

/** GET /{tenant}/thoth/agents */
export const agentsQuerySchema = z.object({
  /** An agent-scoped key must name its agent (as on every SOC route). */
  agent_id: idParam.optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(500),
});

/** GET /{tenant}/thoth/agents: every agent with a baseline, most recently seen first. */
export const agentListSchema = z.object({
  data: z.array(
    z.object({
      agent_id: z.string(),
      baseline_state: z.enum(['learning', 'active']),
      calls: z.number().int().nonnegative(),
      /** The strongest unexpired directive the enforce API holds for the agent (null: none). */
      escalation_level: z.enum(ESCALATION_LEVELS).nullable(),
      escalation_score: z.number().nullable(),
      last_seen_at: z.string().nullable(),
      findings_24h: z.number().int().nonnegative(),
      last_finding_at: z.string().nullable(),
    }),
  ),
  /** Agents of the tenant (or of the named agent) with a baseline; `data` holds at most `limit` of them. */
  total: z.number().int().nonnegative(),
  limit: z.number().int(),
});
export type AgentList = z.infer<typeof agentListSchema>;

/** A quantile sketch as shown: only `samples` while it has none. */
const quantilesSchema = z.union([
  z.object({
    samples: z.int(),
    min: z.number(),
    p50: z.number(),
    p90: z.number(),
    p99: z.number(),
    max: z.number(),
  }),
  z.object({ samples: z.literal(0) }),
]);

/** GET /{tenant}/thoth/agents/{id}/baseline: the learned profile, and the directives the enforce API applies. */
export const agentBaselineSchema = z.object({
  agent_id: z.string(),
  calls: z.int(),
  first_seen_at: z.string(),
  last_seen_at: z.string(),
  learning: z.boolean(),
  learning_ended_at: z.string().nullable(),
  learns_from: z.enum(['decisions', 'tool_call_pre_events']),
  tools: z.array(
    z.object({
      tool_name: z.string(),
      calls: z.int(),
      share: z.number(),
      argument_keys: z.record(z.string(), z.int()),
      numeric_arguments: z.record(z.string(), quantilesSchema),
      categorical_arguments: z.record(
        z.string(),
        z.union([
          z.object({ values: z.record(z.string(), z.int()) }),
          z.object({ free_text: z.literal(true) }),
        ]),
      ),
      next_tools: z.record(z.string(), z.int()),
    }),
  ),
  calls_per_window: z.object({ mean: z.number(), stddev: z.number(), windows: z.int() }),
  hour_of_day: z.array(z.int()).describe('calls per hour of day, in the configured time zone'),
  session_length: quantilesSchema,
  open_sessions: z.int(),
  escalation: z.object({
    anomaly_score: z.number(),
    published_level: z.string().nullable(),
    findings: z.array(
      z.object({
        finding_id: z.string(),
        detector: z.string(),
        subject: z.string(),
        points: z.number(),
        points_now: z.number(),
        at: z.string(),
      }),
    ),
  }),
  enforced_directives: z
    .array(
      z.object({
        level: z.enum(ESCALATION_LEVELS),
        score: z.number(),
        reason: z.string(),
        reason_code: z.string(),
        session_id: z.string().nullable(),
        tool_name: z.string().nullable(),
        finding_ids: z.array(z.string()),
        contributions: z.array(z.object({ feature: z.string(), points: z.number() })),
        signals: z.array(z.string()),
        expires_at: z.string(),
      }),
    )
    .describe('what the enforce API applies to the agent right now'),
});
export type AgentBaselineView = z.infer<typeof agentBaselineSchema>;

export const findingSchema = z.object({
  finding_id: z.string(),
  agent_id: z.string(),
  session_id: z.string(),
  tool_name: z.string(),
  detector: z.string(),
  score: z.number(),
  severity: z.string(),
  explanation: z.string(),
  observed: z.unknown(),
  baseline: z.unknown(),
  event_ids: z.array(z.string()),
  learning: z.boolean().describe('found while the agent’s baseline was still learning'),
  occurred_at: z.string(),
});
export type Finding = z.infer<typeof findingSchema>;

export const findingsPageSchema = pageOf(findingSchema);
