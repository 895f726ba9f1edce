import {
  type ApiEvent,
  type FeedFilter,
  type FeedPage,
  type SessionSummary,
  storedRecord,
} from '@thoth/contracts';

/**
 * SQL for the SOC reads of the audit trail, as pure functions of validated filters. Every query filters by the
 * tenant of the API key, and every user value is a query parameter (never spliced into the SQL).
 */

// The feed's filters are a wire schema (@thoth/contracts); scripts/bench-feed.ts and test/store-parity.test.ts
// build them from here, next to the queries.
export { type FeedFilter, feedFilterSchema } from '@thoth/contracts';

/**
 * A feed page's budget for its encoded body: rows (each up to a megabyte of content) stop being added before
 * it is passed, and the page says where to go on. `per_page` bounds the rows, this bounds the bytes.
 */
export const FEED_PAGE_BYTES = 4 * 1024 * 1024;

/** Room kept in a page's budget for what surrounds its rows (`total`, `page`, `per_page`, `next_offset`). */
const FEED_ENVELOPE_BYTES = 256;

/** The first row of the page: `offset` when given, else where `page` starts. */
function feedOffset(f: FeedFilter): number {
  return f.offset ?? (f.page - 1) * f.per_page;
}

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

/**
 * A behavioral event reports a decision the SDK acted on (TOOL_CALL_BLOCK) in its metadata
 * (`authorization_decision`, `decision_reason_code`), not in the columns a decision event fills. The feed reads
 * both places, so one filter (`reason_code=policy_scope_violation`) finds the decision and the blocked call.
 * The stored rows stay as they are: their columns are what the evidence chain hashed.
 */
const METADATA_EXPR = "JSONExtractString(payload, 'metadata_json')";
export const REASON_CODE_EXPR = `if(reason_code != '' OR kind != 'behavioral', reason_code,
  JSONExtractString(${METADATA_EXPR}, 'decision_reason_code'))`;
export const DECISION_EXPR = `if(kind = 'behavioral', upper(if(decision != '', decision,
  JSONExtractString(${METADATA_EXPR}, 'authorization_decision'))), decision)`;

/** The same normalization on a row already read (a code or decision in a behavioral event's metadata). */
function metadataOf(r: StoredEvent): Record<string, unknown> {
  if (r.kind !== 'behavioral' || (r.reason_code !== '' && r.decision !== '')) return {};
  try {
    const record = JSON.parse(r.payload) as { metadata_json?: unknown };
    if (typeof record.metadata_json !== 'string') return {};
    const metadata: unknown = JSON.parse(record.metadata_json);
    return metadata !== null && typeof metadata === 'object' ? (metadata as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
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
  if (f.decision !== undefined) {
    where.push(`${DECISION_EXPR} = {decision:String}`);
    params.decision = f.decision;
  }
  if (f.reason_code !== undefined) {
    where.push(`${REASON_CODE_EXPR} = {reason_code:String}`);
    params.reason_code = f.reason_code;
  }
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
      params: { ...params, limit: f.per_page, offset: feedOffset(f) },
    },
    total: { sql: `SELECT count() AS total FROM events WHERE ${clause}`, params },
  };
}

/**
 * One feed page: the rows `feedQueries` read, as API events, as many as fit FEED_PAGE_BYTES (at least one, so
 * a client always moves on), and `next_offset`, the `offset` of the next page while more rows match (else null).
 * A page cut short by the budget holds fewer than `per_page` rows; its `next_offset` is where it stopped.
 */
export function feedPage(
  rows: readonly StoredEvent[],
  total: number,
  f: FeedFilter,
  budgetBytes = FEED_PAGE_BYTES,
): FeedPage {
  const data: ApiEvent[] = [];
  let bytes = FEED_ENVELOPE_BYTES;
  for (const row of rows) {
    const event = toApiEvent(row);
    // Encoded as the response will encode it (plus its comma): escaping can make a row several times its text.
    const size = Buffer.byteLength(JSON.stringify(event)) + 1;
    if (data.length > 0 && bytes + size > budgetBytes) break;
    data.push(event);
    bytes += size;
  }
  const next = feedOffset(f) + data.length;
  return { data, total, page: f.page, per_page: f.per_page, next_offset: next < total ? next : null };
}

/**
 * A stored row as the API shows it: ISO times, numbers as numbers, and the event's full record (payload and
 * columns) except the fields whose value is the row's `content`: content (up to a megabyte) appears once a row.
 */
export function toApiEvent(r: StoredEvent): ApiEvent {
  const record = storedRecord(chainFieldsOf(r));
  if (record !== null && r.content !== '') {
    // Behavioral `content`, a decision's `reason`, a finding's `explanation`: the same text as the column.
    for (const [field, value] of Object.entries(record)) if (value === r.content) delete record[field];
  }
  const metadata = metadataOf(r);
  const decision = r.decision || text(metadata.authorization_decision);
  return {
    event_id: r.event_id,
    kind: r.kind,
    event_type: r.event_type,
    tenant_id: r.tenant_id,
    agent_id: r.agent_id,
    session_id: r.session_id,
    user_id: r.user_id,
    tool_name: r.tool_name,
    decision: decision ? (r.kind === 'behavioral' ? decision.toUpperCase() : decision) : null,
    reason_code: r.reason_code || text(metadata.decision_reason_code),
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
export function sessionSummary(events: readonly ApiEvent[]): SessionSummary {
  // Keyed by names an agent chose: no prototype, so a tool named `__proto__` is counted like any other.
  const decisions: Record<string, number> = Object.create(null);
  const tools: Record<string, number> = Object.create(null);
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
