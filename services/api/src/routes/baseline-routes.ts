import type { AgentBaseline } from '@thoth/baselines';
import { baselineState, baselineView } from '@thoth/baselines';
import {
  type AgentBaselineView,
  type AgentList,
  agentBaselineSchema,
  agentListSchema,
  agentsQuerySchema,
  errorResponse,
  errorResponses,
  type Finding,
  type FindingsFilter,
  findingsFilterSchema,
  findingsPageSchema,
  tenantParamsSchema,
  tenantSubjectParamsSchema,
} from '@thoth/contracts';
import type { Store } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { DirectiveIndex } from '../directive-index.ts';
import type { Authenticator } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import { requireStore, tenantReader } from '../http/tenant-reader.ts';
import { whereOccurredBetween } from '../soc/audit-queries.ts';

export interface BaselineRouteDeps {
  auth: Authenticator;
  store: Pick<Store, 'select'> | undefined;
  directives: Pick<DirectiveIndex, 'forAgent'>;
  /** THOTH_BASELINE_DECAY_HALF_LIFE_SECONDS in ms: the profile shows the anomaly score as of now. */
  baselineHalfLifeMs: number;
}

interface StoredFinding {
  finding_id: string;
  agent_id: string;
  session_id: string;
  tool_name: string;
  detector: string;
  score: number | string;
  severity: string;
  explanation: string;
  observed: string;
  baseline: string;
  event_ids: string[];
  learning: number | string;
  occurred_at_ms: number | string;
}

/** Weakest first: the order that ranks an agent's directives. */
const ESCALATION_LEVELS = ['warn', 'step_up', 'block'] as const;
type EscalationLevel = (typeof ESCALATION_LEVELS)[number];

const FINDINGS_WINDOW_MS = 24 * 60 * 60 * 1000;

/** The errors of every baselines read: a `read` key of the tenant (or of the agent it names), and a store. */
const readErrors = {
  ...errorResponses(400, 401, 403, 414, 429, 500),
  503: errorResponse('store_unavailable: this process has no audit-trail store'),
};

/** The agent's current escalation: its strongest unexpired directive, by level then score. */
function currentEscalation(
  directives: readonly { level: EscalationLevel; score: number; expiresAtMs: number }[],
  nowMs: number,
): { level: EscalationLevel; score: number } | undefined {
  let best: { level: EscalationLevel; score: number } | undefined;
  for (const d of directives) {
    if (d.expiresAtMs <= nowMs) continue;
    const rank = ESCALATION_LEVELS.indexOf(d.level) - (best ? ESCALATION_LEVELS.indexOf(best.level) : -1);
    if (!best || rank > 0 || (rank === 0 && d.score > best.score)) best = { level: d.level, score: d.score };
  }
  return best;
}

/** SQL of the findings list: tenant of the key, every user value a query parameter; newest first. */
export function findingsQueries(tenantId: string, f: FindingsFilter) {
  const where = ['tenant_id = {tenant:String}'];
  const params: Record<string, unknown> = { tenant: tenantId };
  for (const column of ['agent_id', 'detector', 'severity', 'session_id', 'tool_name'] as const) {
    const value = f[column];
    if (value === undefined) continue;
    where.push(`${column} = {${column}:String}`);
    params[column] = value;
  }
  if (f.learning !== undefined) {
    where.push('learning = {learning:UInt8}');
    params.learning = f.learning === 'true' ? 1 : 0;
  }
  if (f.min_score !== undefined) {
    where.push('score >= {min_score:UInt8}');
    params.min_score = f.min_score;
  }
  whereOccurredBetween(where, params, f.from, f.to);
  const clause = where.join(' AND ');
  return {
    rows: {
      sql: `SELECT finding_id, agent_id, session_id, tool_name, detector, score, severity, explanation, observed,
              baseline, event_ids, learning, toUnixTimestamp64Milli(occurred_at) AS occurred_at_ms
            FROM findings FINAL WHERE ${clause}
            ORDER BY occurred_at DESC, finding_id DESC LIMIT {limit:UInt32} OFFSET {offset:UInt64}`,
      params: { ...params, limit: f.per_page, offset: (f.page - 1) * f.per_page },
    },
    total: { sql: `SELECT count() AS total FROM findings FINAL WHERE ${clause}`, params },
  };
}

function toApiFinding(r: StoredFinding): Finding {
  const parse = (text: string) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return null;
    }
  };
  return {
    finding_id: r.finding_id,
    agent_id: r.agent_id,
    session_id: r.session_id,
    tool_name: r.tool_name,
    detector: r.detector,
    score: Number(r.score),
    severity: r.severity,
    explanation: r.explanation,
    observed: parse(r.observed),
    baseline: parse(r.baseline),
    event_ids: r.event_ids,
    learning: Number(r.learning) === 1,
    occurred_at: new Date(Number(r.occurred_at_ms)).toISOString(),
  };
}

/** Behavioral baselines: an agent's learned profile with its current escalation, and the findings list. */
export const baselineRoutes =
  (deps: BaselineRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const reader = tenantReader(deps.auth);
    const store = () => requireStore(deps.store);

    app.get(
      '/:tenant/thoth/agents/:id/baseline',
      {
        schema: {
          summary: 'An agent’s learned behavioral baseline and its current escalation (docs/baselines.md)',
          tags: ['baselines'],
          params: tenantSubjectParamsSchema,
          response: {
            200: agentBaselineSchema.describe('the agent’s learned profile and current escalation'),
            ...readErrors,
            404: errorResponse('not_found: the agent has no baseline'),
          },
        },
      },
      async (request) => {
        const { tenant, id } = request.params;
        reader(request, tenant, id);
        const [row] = await store().select<{ state: string }>(
          `SELECT argMax(state, version) AS state FROM baseline_state
           WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} GROUP BY tenant_id, agent_id`,
          { tenant, agent: id },
        );
        if (!row) throw new HttpError(404, 'not_found', `no baseline for agent ${id}`);
        const now = Date.now();
        const directives = deps.directives
          .forAgent(tenant, id)
          .filter((d) => d.expiresAtMs > now)
          .map((d) => ({
            level: d.level,
            score: d.score,
            reason: d.reason,
            reason_code: d.reasonCode,
            session_id: d.sessionId ?? null,
            tool_name: d.toolName ?? null,
            finding_ids: d.findingIds,
            contributions: d.contributions,
            signals: d.signals,
            expires_at: new Date(d.expiresAtMs).toISOString(),
          }));
        // baselineView's shape is agentBaselineSchema's (less the directives): tests check every answer.
        const profile = baselineView(JSON.parse(row.state) as AgentBaseline, now, deps.baselineHalfLifeMs);
        return {
          ...(profile as Omit<AgentBaselineView, 'enforced_directives'>),
          // What the enforce API applies right now (the directives it holds in memory).
          enforced_directives: directives,
        };
      },
    );

    app.get(
      '/:tenant/thoth/agents',
      {
        schema: {
          summary:
            'Agents with a behavioral baseline: state, current escalation, last seen, findings in the last 24 h',
          tags: ['baselines'],
          params: tenantParamsSchema,
          querystring: agentsQuerySchema,
          response: {
            200: agentListSchema.describe('agents with a baseline, most recently seen first'),
            ...readErrors,
          },
        },
      },
      async (request): Promise<AgentList> => {
        const { tenant } = request.params;
        const { agent_id: agent, limit } = request.query;
        reader(request, tenant, agent);
        const where = `tenant_id = {tenant:String}${agent === undefined ? '' : ' AND agent_id = {agent:String}'}`;
        const params = { tenant, agent: agent ?? '' };
        const [states, [count]] = await Promise.all([
          store().select<{ state: string }>(
            `SELECT argMax(state, version) AS state FROM baseline_state WHERE ${where}
             GROUP BY tenant_id, agent_id ORDER BY max(updated_at) DESC, agent_id LIMIT {limit:UInt32}`,
            { ...params, limit },
          ),
          store().select<{ total: number | string }>(
            `SELECT uniqExact(agent_id) AS total FROM baseline_state WHERE ${where}`,
            params,
          ),
        ]);
        const baselines = states.map((r) => JSON.parse(r.state) as AgentBaseline);
        const now = Date.now();
        const recent =
          baselines.length === 0
            ? []
            : await store().select<{ agent_id: string; n: number | string; last_ms: number | string }>(
                `SELECT agent_id, count() AS n, max(toUnixTimestamp64Milli(occurred_at)) AS last_ms
                 FROM findings FINAL
                 WHERE tenant_id = {tenant:String} AND agent_id IN {agents:Array(String)}
                   AND occurred_at >= fromUnixTimestamp64Milli({since:Int64})
                 GROUP BY agent_id`,
                { tenant, agents: baselines.map((b) => b.agent_id), since: now - FINDINGS_WINDOW_MS },
              );
        const findings = new Map(recent.map((r) => [r.agent_id, r]));
        return {
          data: baselines.map((b) => {
            const escalation = currentEscalation(deps.directives.forAgent(tenant, b.agent_id), now);
            const f = findings.get(b.agent_id);
            return {
              agent_id: b.agent_id,
              baseline_state: baselineState(b),
              calls: b.calls,
              escalation_level: escalation?.level ?? null,
              escalation_score: escalation?.score ?? null,
              last_seen_at: Number.isFinite(b.last_seen_at) ? new Date(b.last_seen_at).toISOString() : null,
              findings_24h: Number(f?.n ?? 0),
              last_finding_at: f ? new Date(Number(f.last_ms)).toISOString() : null,
            };
          }),
          total: Number(count?.total ?? 0),
          limit,
        };
      },
    );

    app.get(
      '/:tenant/thoth/findings',
      {
        schema: {
          summary: 'Behavioral-baseline findings, newest first, with filters and pagination',
          tags: ['baselines'],
          params: tenantParamsSchema,
          querystring: findingsFilterSchema,
          response: { 200: findingsPageSchema.describe('findings, newest first'), ...readErrors },
        },
      },
      async (request) => {
        reader(request, request.params.tenant, request.query.agent_id);
        const q = findingsQueries(request.params.tenant, request.query);
        const [rows, [count]] = await Promise.all([
          store().select<StoredFinding>(q.rows.sql, q.rows.params),
          store().select<{ total: number | string }>(q.total.sql, q.total.params),
        ]);
        return {
          data: rows.map(toApiFinding),
          total: Number(count?.total ?? 0),
          page: request.query.page,
          per_page: request.query.per_page,
        };
      },
    );
  };
