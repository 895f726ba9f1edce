import { storedRecord } from '@thoth/common/stored-record';
import { z } from 'zod';

/**
 * SQL for the SOC reads of the audit trail, as pure functions of validated filters. Every query filters by the
 * tenant of the API key, and every user value is a query parameter (never spliced into the SQL).
 */

export const SORT_COLUMNS = [
  'occurred_at',
  'risk_score',
  'tool_name',
  'agent_id',
  'decision',
  'chain_index',
] as const;

export const isoTime = z.iso.datetime({ offset: true }).or(z.iso.date());

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
});
export type FeedFilter = z.infer<typeof feedFilterSchema>;

/** The columns every trail read returns (timestamps as epoch ms, turned into ISO by `toApiEvent`). */
export const EVENT_COLUMNS = `event_id, kind, event_type, tenant_id, agent_id, session_id, user_id, tool_name,
  decision, reason_code, risk_score, enforcement_mode, violation_id, enforcement_trace_id, content, payload,
  toUnixTimestamp64Milli(occurred_at) AS occurred_at_ms, toUnixTimestamp64Milli(ingested_at) AS ingested_at_ms,
  chain_index, previous_hash, hash`;

export interface StoredEvent {
  event_id: string;
  kind: string;
  event_type: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  user_id: string;
  tool_name: string;
  decision: string;
  reason_code: string;
  risk_score: number | string;
  enforcement_mode: string;
  violation_id: string;
  enforcement_trace_id: string;
  content: string;
  payload: string;
  occurred_at_ms: number | string;
  ingested_at_ms: number | string;
  chain_index: number | string;
  previous_hash: string;
  hash: string;
}

export interface SqlQuery {
  sql: string;
  params: Record<string, unknown>;
}

/** Adds `from ≤ occurred_at < to` (ISO times, either optional) to a WHERE clause being built. */
export function whereOccurredBetween(
  where: string[],
  params: Record<string, unknown>,
  from: string | undefined,
  to: string | undefined,
): void {
  if (from) {
    where.push('occurred_at >= fromUnixTimestamp64Milli({from:Int64})');
    params.from = Date.parse(from);
  }
  if (to) {
    where.push('occurred_at < fromUnixTimestamp64Milli({to:Int64})');
    params.to = Date.parse(to);
  }
}

export function feedQueries(tenantId: string, f: FeedFilter): { rows: SqlQuery; total: SqlQuery } {
  const where = ['tenant_id = {tenant:String}'];
  const params: Record<string, unknown> = { tenant: tenantId };
  const equal = (column: keyof FeedFilter & string, value: string | undefined) => {
    if (value === undefined) return;
    where.push(`${column} = {${column}:String}`);
    params[column] = value;
  };
  equal('agent_id', f.agent_id);
  equal('tool_name', f.tool_name);
  equal('decision', f.decision);
  equal('reason_code', f.reason_code);
  equal('session_id', f.session_id);
  equal('event_type', f.event_type);
  whereOccurredBetween(where, params, f.from, f.to);
  if (f.search) {
    where.push(`(violation_id = {search:String} OR event_id = {search:String} OR session_id = {search:String}
      OR enforcement_trace_id = {search:String} OR positionCaseInsensitiveUTF8(content, {search:String}) > 0)`);
    params.search = f.search;
  }
  const clause = where.join(' AND ');
  const direction = f.sort_dir === 'asc' ? 'ASC' : 'DESC';
  return {
    rows: {
      sql: `SELECT ${EVENT_COLUMNS} FROM events WHERE ${clause}
            ORDER BY ${f.sort_by} ${direction}, event_id ${direction}
            LIMIT {limit:UInt32} OFFSET {offset:UInt64}`,
      params: { ...params, limit: f.per_page, offset: (f.page - 1) * f.per_page },
    },
    total: { sql: `SELECT count() AS total FROM events WHERE ${clause}`, params },
  };
}

/** A stored row as the API shows it: ISO times, numbers as numbers, the full record (payload and columns). */
export function toApiEvent(r: StoredEvent): Record<string, unknown> {
  const record = storedRecord(chainFieldsOf(r));
  return {
    event_id: r.event_id,
    kind: r.kind,
    event_type: r.event_type,
    tenant_id: r.tenant_id,
    agent_id: r.agent_id,
    session_id: r.session_id,
    user_id: r.user_id,
    tool_name: r.tool_name,
    decision: r.decision || null,
    reason_code: r.reason_code || null,
    risk_score: Number(r.risk_score),
    enforcement_mode: r.enforcement_mode || null,
    violation_id: r.violation_id || null,
    enforcement_trace_id: r.enforcement_trace_id || null,
    content: r.content,
    occurred_at: new Date(Number(r.occurred_at_ms)).toISOString(),
    ingested_at: new Date(Number(r.ingested_at_ms)).toISOString(),
    chain_index: Number(r.chain_index),
    previous_hash: r.previous_hash,
    hash: r.hash,
    record,
  };
}

/** The fields of a stored row that its chain link covers (schemas/evidence-chain.md). */
export function chainFieldsOf(r: StoredEvent) {
  return {
    tenant_id: r.tenant_id,
    agent_id: r.agent_id,
    event_id: r.event_id,
    kind: r.kind,
    event_type: r.event_type,
    session_id: r.session_id,
    user_id: r.user_id,
    tool_name: r.tool_name,
    decision: r.decision,
    reason_code: r.reason_code,
    risk_score: Number(r.risk_score),
    enforcement_mode: r.enforcement_mode,
    violation_id: r.violation_id,
    enforcement_trace_id: r.enforcement_trace_id,
    content: r.content,
    payload: r.payload,
    occurred_at_ms: Number(r.occurred_at_ms),
    chain_index: Number(r.chain_index),
    previous_hash: r.previous_hash,
    hash: r.hash,
  };
}

/** Summary of a session's timeline for forensics. */
export function sessionSummary(events: Array<ReturnType<typeof toApiEvent>>): Record<string, unknown> {
  const decisions: Record<string, number> = {};
  const tools: Record<string, number> = {};
  const violations: string[] = [];
  let maxRisk = 0;
  for (const e of events) {
    if (e.kind === 'decision' && typeof e.decision === 'string')
      decisions[e.decision] = (decisions[e.decision] ?? 0) + 1;
    if (e.kind === 'behavioral' && e.event_type === 'TOOL_CALL_PRE' && typeof e.tool_name === 'string')
      tools[e.tool_name] = (tools[e.tool_name] ?? 0) + 1;
    if (e.kind === 'decision' && e.decision !== 'ALLOW' && typeof e.violation_id === 'string')
      violations.push(e.violation_id);
    maxRisk = Math.max(maxRisk, Number(e.risk_score));
  }
  return {
    events: events.length,
    agents: [...new Set(events.map((e) => e.agent_id))],
    first_seen: events[0]?.occurred_at ?? null,
    last_seen: events[events.length - 1]?.occurred_at ?? null,
    decisions,
    tool_calls: tools,
    violations,
    blocked: decisions.BLOCK ?? 0,
    max_risk_score: maxRisk,
  };
}
