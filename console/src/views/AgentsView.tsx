import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { ErrorNote, formatTime, JsonBlock } from '../components.tsx';
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

/** Agents seen in the recent trail (the API has no agent registry: agents exist by what they do). */
export function AgentsView({ session, agentId }: { session: SessionInfo; agentId: string | undefined }) {
  return agentId ? <AgentPage session={session} agentId={agentId} /> : <AgentList session={session} />;
}

function AgentList({ session }: { session: SessionInfo }) {
  const t = encodeURIComponent(session.tenant_id);
  const recent = useQuery({
    queryKey: ['agents-recent', session.tenant_id],
    queryFn: async () =>
      (
        await api<{ data: Record<string, unknown>[] }>(
          `/${t}/thoth/governance/feed${query({ per_page: 500, agent_id: session.agent_id ?? undefined })}`,
        )
      ).data.map(rowFromApi),
  });
  const findings = useQuery({
    queryKey: ['findings', session.tenant_id, 'agents'],
    queryFn: () =>
      api<{ data: Finding[] }>(
        `/${t}/thoth/findings${query({ per_page: 200, agent_id: session.agent_id ?? undefined })}`,
      ),
  });
  const agents = useMemo(() => {
    const by = new Map<string, { last: number; calls: number; findings: number }>();
    for (const r of recent.data ?? []) {
      const a = by.get(r.agentId) ?? { last: 0, calls: 0, findings: 0 };
      a.last = Math.max(a.last, r.at);
      a.calls += r.kind === 'decision' ? 1 : 0;
      by.set(r.agentId, a);
    }
    for (const f of findings.data?.data ?? []) {
      const a = by.get(f.agent_id) ?? { last: 0, calls: 0, findings: 0 };
      a.findings += 1;
      by.set(f.agent_id, a);
    }
    return [...by.entries()].sort((a, b) => b[1].last - a[1].last);
  }, [recent.data, findings.data]);
  return (
    <section aria-labelledby="agents-title">
      <h1 id="agents-title">Agents</h1>
      <ErrorNote error={recent.error} />
      <table className="table" aria-label="Agents seen recently">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Last seen</th>
            <th scope="col">Recent decisions</th>
            <th scope="col">Findings</th>
          </tr>
        </thead>
        <tbody>
          {agents.map(([id, a]) => (
            <tr key={id}>
              <td>
                <a
                  href={`/console/agents/${encodeURIComponent(id)}`}
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/agents/${encodeURIComponent(id)}`);
                  }}
                >
                  {id}
                </a>
              </td>
              <td>{formatTime(a.last)}</td>
              <td>{a.calls}</td>
              <td>{a.findings}</td>
            </tr>
          ))}
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
