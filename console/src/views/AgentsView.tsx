import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { ErrorNote, formatTime, JsonBlock } from '../components.tsx';
import {
  type AgentList as AgentListResponse,
  agentListPath,
  agentRows,
  type EscalationLevel,
  LEVEL_LABELS,
} from '../lib/agents-model.ts';
import { ApiError, api, query, type SessionInfo } from '../lib/api.ts';
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
  learning: boolean;
  tools: {
    tool_name: string;
    calls: number;
    share: number;
    numeric_arguments: Record<string, unknown>;
    next_tools: unknown;
  }[];
  calls_per_window: { mean: number; stddev: number; windows: number };
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
          <h2>Tool mix and transitions</h2>
          <table className="table" aria-label="Tool mix">
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">Calls</th>
                <th scope="col">Share</th>
                <th scope="col">Numeric arguments</th>
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
                  <td className="mono small">{JSON.stringify(tool.numeric_arguments)}</td>
                  <td className="mono small">{JSON.stringify(tool.next_tools)}</td>
                </tr>
              ))}
            </tbody>
          </table>
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
