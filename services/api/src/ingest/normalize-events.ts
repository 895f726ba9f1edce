import { randomUUID } from 'node:crypto';
import { type BehavioralEvent, type RejectedEvent, wireEventSchema } from '@thoth/contracts';
import type { Redactor } from '@thoth/platform';

/**
 * The three ingest dialects (docs/protocol.md §Ingest dialects) — a bare JSON array (Python),
 * `{"events":[…]}` in snake_case (Go) and `{"events":[…]}` in camelCase (TypeScript) — normalized to one
 * BehavioralEvent. Pure.
 */

const CAMEL_TO_SNAKE: ReadonlyMap<string, string> = new Map(
  Object.entries({
    eventId: 'event_id',
    eventType: 'event_type',
    agentId: 'agent_id',
    tenantId: 'tenant_id',
    sessionId: 'session_id',
    toolName: 'tool_name',
    occurredAt: 'occurred_at',
    sourceType: 'source_type',
    userId: 'user_id',
    approvedScope: 'approved_scope',
    enforcementMode: 'enforcement_mode',
    sessionToolCalls: 'session_tool_calls',
    violationId: 'violation_id',
    dataClassification: 'data_classification',
    taskContext: 'task_context',
    endpointId: 'endpoint_id',
    ingestedAt: 'ingested_at',
  }),
);

export type IngestBody = { ok: true; events: unknown[] } | { ok: false; message: string };

/** Which dialect: a bare array, or an object with an `events` array. */
export function eventsOf(body: unknown): IngestBody {
  if (Array.isArray(body)) return { ok: true, events: body };
  if (body !== null && typeof body === 'object' && Array.isArray((body as { events?: unknown }).events))
    return { ok: true, events: (body as { events: unknown[] }).events };
  return { ok: false, message: 'body must be a JSON array of events or an object with an "events" array' };
}

function snakeCase(raw: Record<string, unknown>): Record<string, unknown> {
  // Most SDKs send snake_case: then there is nothing to rename (wireEventSchema never mutates its input).
  if (!Object.keys(raw).some((key) => CAMEL_TO_SNAKE.has(key))) return raw;
  // No prototype: a member named `__proto__` must not become the event's prototype, whose members the
  // schema would then read as the event's own.
  const out: Record<string, unknown> = Object.create(null);
  for (const [key, value] of Object.entries(raw)) {
    const snake = CAMEL_TO_SNAKE.get(key);
    // snake_case wins when both spellings arrive.
    if (snake) out[snake] ??= value;
    else out[key] = value;
  }
  return out;
}

/**
 * Event times from 1970-01-01 to 9999-12-31 (UTC): what every export carries (RFC 5424 and ISO-8601 timestamps
 * have four-digit years, HEC and CEF count from the epoch) and what the audit trail stores.
 */
const MIN_TIME_MS = 0;
const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function parseTime(value: string | number | null | undefined, fallback: number): number | undefined {
  if (value === null || value === undefined || value === '') return fallback;
  // Numbers: epoch seconds (Python's time.time()) or milliseconds.
  const ms =
    typeof value === 'number'
      ? Math.abs(value) < 1e11
        ? Math.round(value * 1_000)
        : Math.round(value)
      : Date.parse(value);
  return Number.isFinite(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS ? ms : undefined;
}

/**
 * Normalizes one wire event; an error names the field. Content, metadata (tool arguments) and task context
 * pass through `redactor` here, before anything reaches the bus.
 */
export function normalizeEvent(
  raw: unknown,
  nowMs: number,
  redactor: Redactor,
): { ok: true; event: BehavioralEvent } | { ok: false; field: string; message: string } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { ok: false, field: '(event)', message: 'each event must be a JSON object' };
  const parsed = wireEventSchema.safeParse(snakeCase(raw as Record<string, unknown>));
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, field: issue.path.join('.') || '(event)', message: issue.message };
  }
  const e = parsed.data;
  const occurredAt = parseTime(e.occurred_at, nowMs);
  if (occurredAt === undefined)
    return {
      ok: false,
      field: 'occurred_at',
      message:
        'not an ISO-8601 time (or epoch seconds/ms) from 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z',
    };
  const metadata = e.metadata ?? {};
  const trace = metadata.enforcement_trace_id;
  return {
    ok: true,
    event: {
      event_id: e.event_id ?? `${e.tenant_id}:${randomUUID()}`,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      session_id: e.session_id,
      user_id: e.user_id || 'system',
      source_type: e.source_type || 'agent_tool_call',
      event_type: e.event_type,
      tool_name: e.tool_name ?? '',
      content:
        e.content === null || e.content === undefined
          ? null
          : typeof e.content === 'string'
            ? redactor.text(e.content)
            : redactor.json(e.content),
      metadata_json: redactor.json(metadata) ?? '{}',
      approved_scope: e.approved_scope ?? [],
      enforcement_mode: e.enforcement_mode ?? null,
      session_tool_calls: e.session_tool_calls ?? [],
      occurred_at: occurredAt,
      ingested_at: nowMs,
      ttl: e.ttl === null || e.ttl === undefined ? null : String(e.ttl),
      violation_id: e.violation_id ?? null,
      purpose: e.purpose == null ? null : redactor.text(e.purpose),
      data_classification: e.data_classification ?? null,
      task_context_json: e.task_context ? redactor.json(e.task_context) : null,
      endpoint_id: e.endpoint_id ?? null,
      hostname: e.hostname ?? null,
      enforcement_trace_id: typeof trace === 'string' ? trace : null,
      chain_index: null,
      hash: null,
      previous_hash: null,
      signature: null,
    },
  };
}

/**
 * Normalizes a whole batch: valid events and per-event rejections, never one poisoning the other. Indexes of
 * rejections count from `firstIndex` (the position of `events[0]` in the request).
 */
export function normalizeBatch(
  events: readonly unknown[],
  nowMs: number,
  redactor: Redactor,
  firstIndex = 0,
): { events: BehavioralEvent[]; rejected: RejectedEvent[] } {
  const ok: BehavioralEvent[] = [];
  const rejected: RejectedEvent[] = [];
  events.forEach((raw, offset) => {
    const index = firstIndex + offset;
    const result = normalizeEvent(raw, nowMs, redactor);
    if (result.ok) ok.push(result.event);
    else {
      const eventId =
        (raw as { event_id?: unknown; eventId?: unknown } | null)?.event_id ??
        (raw as { eventId?: unknown } | null)?.eventId;
      rejected.push({
        index,
        ...(typeof eventId === 'string' ? { event_id: eventId } : {}),
        field: result.field,
        message: result.message,
      });
    }
  });
  return { events: ok, rejected };
}
