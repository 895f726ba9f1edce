import { z } from 'zod';
import { ADMIN_AGENT_ID } from '../records.ts';
import { errorBodySchema } from './errors.ts';
import { budgetedJson } from './json-budget.ts';

/**
 * POST /v1/events/batch (docs/protocol.md §Ingest): behavioral events in three dialects, each event validated
 * alone, so that an invalid one never holds back the valid ones.
 */

const text = z.string().max(1_000_000);
const shortText = z.string().max(512);
const EVENT_TYPES = ['TOOL_CALL_PRE', 'TOOL_CALL_POST', 'TOOL_CALL_BLOCK', 'LLM_INVOCATION'] as const;

/** One event, its keys in snake_case (the TypeScript dialect's camelCase keys are renamed before this). */
export const wireEventSchema = z.object({
  event_id: shortText.min(1).optional(),
  tenant_id: shortText.min(1),
  agent_id: shortText.min(1).refine((id) => id !== ADMIN_AGENT_ID, `"${ADMIN_AGENT_ID}" is reserved`),
  session_id: shortText.min(1),
  user_id: shortText.nullish(),
  source_type: shortText.nullish(),
  event_type: z
    .string()
    .transform((t) => t.toUpperCase())
    .pipe(z.enum(EVENT_TYPES)),
  tool_name: shortText.nullish(),
  content: budgetedJson()
    .pipe(z.union([text, z.record(z.string(), z.unknown()), z.array(z.unknown())]))
    .nullish(),
  metadata: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  approved_scope: z.array(shortText).max(10_000).nullish(),
  enforcement_mode: shortText.nullish(),
  session_tool_calls: z.array(shortText).max(10_000).nullish(),
  occurred_at: z.union([z.string().max(64), z.number()]).nullish(),
  ttl: z.union([shortText, z.number()]).nullish(),
  violation_id: shortText.nullish(),
  purpose: shortText.nullish(),
  data_classification: shortText.nullish(),
  task_context: budgetedJson().pipe(z.record(z.string(), z.unknown())).nullish(),
  endpoint_id: shortText.nullish(),
  hostname: shortText.nullish(),
});

/** Fifty times an SDK's default batch (100): larger requests are refused with 413, not parsed for seconds. */
export const MAX_EVENTS_PER_REQUEST = 5_000;

/**
 * The request body as the OpenAPI document shows it. The route validates it itself (one event at a time, see
 * wireEventSchema): a bare array, or an object with an `events` array.
 */
export const ingestBodySchema = z
  .union([z.array(wireEventSchema), z.object({ events: z.array(wireEventSchema) })])
  .describe(
    'a bare JSON array of events (Python), {"events": […]} in snake_case (Go) or in camelCase (TypeScript); ' +
      `at most ${MAX_EVENTS_PER_REQUEST} events. Each event is validated alone: an invalid one is listed in ` +
      '`rejected` and never holds back the others',
  );

/** An event refused by validation: its position in the request and the field that failed. */
export const rejectedEventSchema = z.object({
  index: z.int(),
  event_id: z.string().optional(),
  field: z.string(),
  message: z.string(),
});
export type RejectedEvent = z.infer<typeof rejectedEventSchema>;

/** 202: the valid events are on the event bus. */
export const ingestAcceptedSchema = z.object({
  accepted: z.int().describe('events now on the bus'),
  rejected: z.array(rejectedEventSchema),
});

/** 400: `invalid_events` (no event of the batch is valid: `rejected` lists them), or the usual validation errors. */
export const ingestInvalidSchema = errorBodySchema
  .extend({ rejected: z.array(rejectedEventSchema).optional().describe('with invalid_events') })
  .describe(
    'invalid_events: no event of the batch is valid (`rejected` lists each); invalid_request: neither an array ' +
      'nor an object with an "events" array; invalid_json: the body is not JSON',
  );
