/**
 * The feed's rows, from two sources in one shape: pages of the feed API (the stored trail) and the live
 * stream's events (SSE). Pure functions: tested without a browser.
 */
export interface FeedRow {
  id: string;
  /** Epoch ms. */
  at: number;
  kind: string;
  eventType: string;
  agentId: string;
  sessionId: string;
  toolName: string;
  decision: string | null;
  reasonCode: string | null;
  riskScore: number;
  content: string;
  /** Everything the source sent: shown in the row's detail. */
  raw: Record<string, unknown>;
}

export const FEED_FILTERS = [
  'agent_id',
  'tool_name',
  'decision',
  'reason_code',
  'session_id',
  'event_type',
  'from',
  'to',
  'search',
] as const;
export type FeedFilterName = (typeof FEED_FILTERS)[number];
export type FeedFilters = Partial<Record<FeedFilterName, string>>;

/** The most rows the live view keeps: past it, the oldest go (the trail keeps them; search finds them). */
export const MAX_FEED_ROWS = 100_000;

const str = (v: unknown): string => (typeof v === 'string' ? v : '');
const strOrNull = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/** A row of the feed API (`GET /{tenant}/thoth/governance/feed`). */
export function rowFromApi(e: Record<string, unknown>): FeedRow {
  return {
    id: str(e.event_id),
    at: Date.parse(str(e.occurred_at)) || 0,
    kind: str(e.kind),
    eventType: str(e.event_type),
    agentId: str(e.agent_id),
    sessionId: str(e.session_id),
    toolName: str(e.tool_name),
    decision: strOrNull(e.decision),
    reasonCode: strOrNull(e.reason_code),
    riskScore: Number(e.risk_score ?? 0),
    content: str(e.content),
    raw: e,
  };
}

/** An event of the live tail (`event: decision|event`, data: the bus record, times in epoch ms). */
export function rowFromStream(type: string, data: Record<string, unknown>): FeedRow {
  const decision = type === 'decision';
  return {
    id: str(data.event_id),
    at: Number(data.occurred_at ?? Date.now()),
    kind: decision ? 'decision' : 'behavioral',
    eventType: decision ? 'DECISION' : str(data.event_type),
    agentId: str(data.agent_id),
    sessionId: str(data.session_id),
    toolName: str(data.tool_name),
    decision: decision ? strOrNull(data.decision) : null,
    reasonCode: decision ? strOrNull(data.reason_code) : null,
    riskScore: Number(data.risk_score ?? 0),
    content: decision ? str(data.reason) : str(data.content),
    raw: data,
  };
}

/** Whether a live row passes the view's filters (the API applies the same ones to stored rows). */
export function matchesFilters(row: FeedRow, f: FeedFilters): boolean {
  if (f.agent_id && row.agentId !== f.agent_id) return false;
  if (f.tool_name && row.toolName !== f.tool_name) return false;
  if (f.decision && row.decision !== f.decision.toUpperCase()) return false;
  if (f.reason_code && row.reasonCode !== f.reason_code) return false;
  if (f.session_id && row.sessionId !== f.session_id) return false;
  if (
    f.event_type &&
    row.eventType !== f.event_type &&
    !(f.event_type === 'DECISION' && row.kind === 'decision')
  )
    return false;
  if (f.from && row.at < Date.parse(f.from)) return false;
  if (f.to && row.at > Date.parse(f.to)) return false;
  if (f.search) {
    const needle = f.search.toLowerCase();
    const hay =
      `${row.agentId} ${row.toolName} ${row.sessionId} ${row.content} ${row.reasonCode ?? ''}`.toLowerCase();
    if (!hay.includes(needle)) return false;
  }
  return true;
}

/**
 * New live rows in front of the ones shown, newest first, without duplicates (a row may come from the stream
 * and from a page), at most `max`. Returns the same array when nothing is new, so React skips the render.
 */
export function mergeLive(
  shown: readonly FeedRow[],
  incoming: readonly FeedRow[],
  max = MAX_FEED_ROWS,
): FeedRow[] {
  if (incoming.length === 0) return shown as FeedRow[];
  const seen = new Set<string>();
  const fresh: FeedRow[] = [];
  for (let i = incoming.length - 1; i >= 0; i--) {
    const row = incoming[i]!;
    if (seen.has(row.id)) continue;
    seen.add(row.id);
    fresh.push(row);
  }
  // Only the head of `shown` can hold a duplicate of a row that just arrived.
  const head = shown.slice(0, 500);
  const kept = fresh.filter((r) => !head.some((s) => s.id === r.id));
  if (kept.length === 0) return shown as FeedRow[];
  const merged = kept.concat(shown);
  return merged.length > max ? merged.slice(0, max) : merged;
}

/** The filters of a URL query. */
export function filtersFrom(params: URLSearchParams): FeedFilters {
  const f: FeedFilters = {};
  for (const name of FEED_FILTERS) {
    const v = params.get(name);
    if (v) f[name] = v;
  }
  return f;
}

const TOOLS = ['search_docs', 'read_file', 'submit_payment', 'send_email', 'query_db', 'wire'];
const DECISIONS = ['ALLOW', 'ALLOW', 'ALLOW', 'BLOCK', 'STEP_UP', 'MODIFY'];

/**
 * `n` generated rows (`?synthetic=100000` on the feed): a rendering benchmark for the virtualized table,
 * deterministic so screenshots and the e2e run's scroll measurement are repeatable. Never mixed with real data.
 */
export function syntheticRows(n: number, start = Date.UTC(2026, 0, 1)): FeedRow[] {
  const rows: FeedRow[] = new Array(n);
  const raw = { synthetic: true }; // one shared object: 100k rows should not cost 100k more allocations
  for (let i = 0; i < n; i++) {
    const decision = i % 3 === 0 ? (DECISIONS[i % DECISIONS.length] ?? 'ALLOW') : null;
    rows[i] = {
      id: `synthetic-${i}`,
      at: start - i * 1_000,
      kind: decision ? 'decision' : 'behavioral',
      eventType: decision ? 'DECISION' : i % 2 ? 'TOOL_CALL_PRE' : 'TOOL_CALL_POST',
      agentId: `agent-${i % 37}`,
      sessionId: `session-${Math.floor(i / 12)}`,
      toolName: TOOLS[i % TOOLS.length] ?? 'search_docs',
      decision,
      reasonCode: decision && decision !== 'ALLOW' ? 'policy_rule' : null,
      riskScore: (i * 7) % 100,
      content: `synthetic row ${i}`,
      raw,
    };
  }
  return rows;
}
