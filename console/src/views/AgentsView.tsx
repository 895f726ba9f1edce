import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { QuantileChart, RateBandChart } from '../charts.tsx';
import { ErrorNote, formatTime, JsonBlock } from '../components.tsx';
import {
  type AgentList as AgentListResponse,
  agentListPath,
  agentRows,
  type EscalationLevel,
  LEVEL_LABELS,
} from '../lib/agents-model.ts';
import { ApiError, api, query, type SessionInfo } from '../lib/api.ts';
import { callRateSeries, DEFAULT_RATE_WINDOW_SECONDS, numericArguments } from '../lib/chart-model.ts';
import { rowFromApi } from '../lib/feed-model.ts';
import { navigate } from '../lib/router.ts';

export interface Finding {
  finding_id: string;
  agent_id: string;
  session_id: string;
  tool_name: string;
  detector: string;
  score: number;
  severity: string;
  explanation: string;
  occurred_at?: string;
}

interface Baseline {
  agent_id: string;
  calls: number;
  last_seen_at?: string | null;
  learning: boolean;
  learns_from?: 'decisions' | 'tool_call_pre_events';
  tools: {
    tool_name: string;
    calls: number;
    share: number;
    numeric_arguments: Record<string, unknown>;
    next_tools: unknown;
  }[];
  /** `window_seconds`: when the API names its rate window (else the default's 10 s is assumed). */
  calls_per_window: { mean: number; stddev: number; windows: number; window_seconds?: number };
  escalation: { anomaly_score: number; published_level: string | null; findings: unknown[] };
  enforced_directives: { level: string; reason: string }[];
}

/** Agents: those with a behavioral baseline (GET /{tenant}/thoth/agents) and those seen in the recent trail. */
export function AgentsView({ session, agentId }: { session: SessionInfo; agentId: string | undefined }) {
  return agentId ? <AgentPage session={session} agentId={agentId} /> : <AgentList session={session} />;
}

/** The agent list, shared (same query key) by the Agents view and the overview. */
export function useAgentList(session: SessionInfo) {
  return useQuery({
    queryKey: ['agents', session.tenant_id, session.agent_id],
    queryFn: () => api<AgentListResponse>(agentListPath(session.tenant_id, session.agent_id)),
    refetchInterval: 15_000,
  });
}

const LEVEL_CLASS: Record<EscalationLevel, string> = { block: 'error', step_up: 'warn', warn: 'muted' };

function AgentList({ session }: { session: SessionInfo }) {
  const t = encodeURIComponent(session.tenant_id);
  const list = useAgentList(session);
  const recent = useQuery({
    queryKey: ['agents-recent', session.tenant_id],
    queryFn: async () =>
      (
        await api<{ data: Record<string, unknown>[] }>(
          `/${t}/thoth/governance/feed${query({ per_page: 500, agent_id: session.agent_id ?? undefined })}`,
        )
      ).data.map(rowFromApi),
  });
  const agents = useMemo(() => {
    const seen = new Map<string, number>();
    for (const r of recent.data ?? []) seen.set(r.agentId, Math.max(seen.get(r.agentId) ?? 0, r.at));
    return agentRows(list.data?.data ?? [], seen);
  }, [list.data, recent.data]);
  const truncated = list.data !== undefined && list.data.total > list.data.data.length;
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <ErrorNote error={list.error ?? recent.error} />
      {truncated && (
        <p className="muted" role="status">
          Showing the {list.data?.data.length} most recently active of {list.data?.total} agents with a
          baseline.
        </p>
      )}
      <table className="table" aria-label="Agents">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Baseline</th>
            <th scope="col">Escalation</th>
            <th scope="col">Last seen</th>
            <th scope="col">Findings (24 h)</th>
          </tr>
        </thead>
        <tbody>
          {agents.map((a) => (
            <tr key={a.agentId} data-testid="agent-row">
              <td>
                <a
                  href={`/console/agents/${encodeURIComponent(a.agentId)}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/agents/${encodeURIComponent(a.agentId)}`);
                  }}
                >
                  {a.agentId}
                </a>
              </td>
              <td>{a.baselineState ?? <span className="muted">no baseline yet</span>}</td>
              <td>
                {a.escalationLevel === null ? (
                  <span className="muted">none</span>
                ) : (
                  <span className={LEVEL_CLASS[a.escalationLevel]}>
                    {LEVEL_LABELS[a.escalationLevel]} · score {a.escalationScore}
                  </span>
                )}
              </td>
              <td>{a.lastSeen === null ? '—' : formatTime(a.lastSeen)}</td>
              <td>{a.findings24h}</td>
            </tr>
          ))}
          {list.isSuccess && recent.isSuccess && agents.length === 0 && (
            <tr>
              <td colSpan={5} className="muted">
                No agents yet.
              </td>
            </tr>
          )}
        </tbody>
      </table>
    </section>
  );
}

function AgentPage({ session, agentId }: { session: SessionInfo; agentId: string }) {
  const t = encodeURIComponent(session.tenant_id);
  const a = encodeURIComponent(agentId);
  const baseline = useQuery({
    queryKey: ['baseline', session.tenant_id, agentId],
    queryFn: async () => {
      try {
        return await api<Baseline>(`/${t}/thoth/agents/${a}/baseline`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) return null;
        throw e;
      }
    },
  });
  const findings = useQuery({
    queryKey: ['findings', session.tenant_id, agentId],
    queryFn: () =>
      api<{ data: Finding[] }>(`/${t}/thoth/findings${query({ agent_id: agentId, per_page: 50 })}`),
  });
  const b = baseline.data;
  const rate = useCallRate(session, agentId, b ?? undefined);
  return (
    <section aria-labelledby="agent-title">
      <h1 id="agent-title">Agent {agentId}</h1>
      <ErrorNote error={baseline.error} />
      {b === null && <p className="muted">No baseline yet for this agent.</p>}
      {b && (
        <>
          <dl className="facts">
            <dt>Baseline</dt>
            <dd>{b.learning ? 'learning' : 'active'}</dd>
            <dt>Calls</dt>
            <dd>{b.calls}</dd>
            <dt>Call rate band</dt>
            <dd>
              {b.calls_per_window.mean} ± {b.calls_per_window.stddev} per window ({b.calls_per_window.windows}{' '}
              windows)
            </dd>
            <dt>Escalation</dt>
            <dd>
              {b.escalation.published_level ?? 'none'} · anomaly score {b.escalation.anomaly_score}
            </dd>
          </dl>
          <h2>Call rate against its baseline</h2>
          <ErrorNote error={rate.error} />
          {rate.data ? <RateBandChart series={rate.data} /> : <p className="muted">Loading the call rate…</p>}
          <h2>Tool mix and transitions</h2>
          <table className="table" aria-label="Tool mix">
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Calls</th>
                <th scope="col">Share</th>
                <th scope="col">Next tools</th>
              </tr>
            </thead>
            <tbody>
              {b.tools.map((tool) => (
                <tr key={tool.tool_name}>
                  <td>{tool.tool_name}</td>
                  <td>{tool.calls}</td>
                  <td>
                    <meter min={0} max={1} value={tool.share} aria-label={`share of ${tool.tool_name}`} />{' '}
                    {Math.round(tool.share * 100)}%
                  </td>
                  <td className="mono small">{JSON.stringify(tool.next_tools)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h2>Numeric arguments</h2>
          {b.tools.every((tool) => numericArguments(tool.numeric_arguments).length === 0) && (
            <p className="muted">No numeric arguments learned yet.</p>
          )}
          <div className="chart-grid">
            {b.tools.flatMap((tool) =>
              numericArguments(tool.numeric_arguments).map(([name, q]) => (
                <QuantileChart
                  key={`${tool.tool_name}\u0000${name}`}
                  name={`${tool.tool_name} · ${name}`}
                  quantiles={q}
                />
              )),
            )}
          </div>
        </>
      )}
      <h2>Findings</h2>
      <ul className="plain">
        {(findings.data?.data ?? []).map((f) => (
          <li key={f.finding_id}>
            <strong>{f.detector}</strong> ({f.severity}, score {f.score}): {f.explanation}
          </li>
        ))}
        {findings.data?.data.length === 0 && <li className="muted">No findings.</li>}
      </ul>
      {b && (
        <details>
          <summary>Full baseline</summary>
          <JsonBlock value={b} label="Full baseline" />
        </details>
      )}
    </section>
  );
}

/** Rate windows the agent page charts (60 × 10 s by default: the last ten minutes of activity). */
const RATE_WINDOWS = 60;

/**
 * The agent's calls per rate window, read from the trail (the events its baseline learns from: decisions, or
 * TOOL_CALL_PRE events for an agent that does not enforce), over the windows ending at its last activity.
 */
function useCallRate(session: SessionInfo, agentId: string, b: Baseline | undefined) {
  const t = encodeURIComponent(session.tenant_id);
  const windowSeconds = b?.calls_per_window.window_seconds ?? DEFAULT_RATE_WINDOW_SECONDS;
  const lastSeen = b?.last_seen_at ? Date.parse(b.last_seen_at) : Number.NaN;
  // Anchored at the agent's last call (or now), rounded to a window so refetches read the same span.
  const endMs = Math.min(Date.now(), Number.isFinite(lastSeen) ? lastSeen : Date.now());
  const endWindow = Math.floor(endMs / (windowSeconds * 1_000));
  return useQuery({
    queryKey: ['agent-rate', session.tenant_id, agentId, b?.learns_from, windowSeconds, endWindow],
    enabled: b !== undefined,
    refetchInterval: 15_000,
    queryFn: async () => {
      const to = (endWindow + 1) * windowSeconds * 1_000;
      const from = to - RATE_WINDOWS * windowSeconds * 1_000;
      const page = await api<{ data: Record<string, unknown>[]; total: number }>(
        `/${t}/thoth/governance/feed${query({
          agent_id: agentId,
          event_type: b?.learns_from === 'tool_call_pre_events' ? 'TOOL_CALL_PRE' : 'DECISION',
          from: new Date(from).toISOString(),
          to: new Date(to).toISOString(),
          per_page: 500,
        })}`,
      );
      const times = page.data.map((e) => Date.parse(String(e.occurred_at))).filter(Number.isFinite);
      return callRateSeries(
        times,
        b?.calls_per_window ?? { mean: 0, stddev: 0 },
        windowSeconds,
        to - 1,
        RATE_WINDOWS,
        page.total > page.data.length,
      );
    },
  });
}
