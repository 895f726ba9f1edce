import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { DECISION_COLORS, ErrorNote, formatTime, TimeChart } from '../components.tsx';
import { agentsByEscalation, LEVEL_LABELS } from '../lib/agents-model.ts';
import { api, query, type SessionInfo } from '../lib/api.ts';
import { rowFromApi } from '../lib/feed-model.ts';
import { decisionsPerMinute, OUTCOMES } from '../lib/overview-model.ts';
import { navigate } from '../lib/router.ts';
import { type Finding, useAgentList } from './AgentsView.tsx';
import type { Approval } from './ApprovalsView.tsx';

/** The tenant at a glance: decisions per minute (refreshed every 5 s), open approvals, findings, chains. */
export function OverviewView({ session }: { session: SessionInfo }) {
  const t = encodeURIComponent(session.tenant_id);
  const from = new Date(Date.now() - 30 * 60_000).toISOString();
  const decisions = useQuery({
    queryKey: ['overview-decisions', session.tenant_id],
    queryFn: async () =>
      (
        await api<{ data: Record<string, unknown>[] }>(
          `/${t}/thoth/governance/feed${query({ event_type: 'DECISION', from, per_page: 500 })}`,
        )
      ).data.map(rowFromApi),
    refetchInterval: 5_000,
  });
  const approvals = useQuery({
    queryKey: ['approvals', session.tenant_id, 'pending'],
    queryFn: () =>
      api<{ data: Approval[]; total: number }>(`/${t}/thoth/approvals?status=pending&per_page=200`),
    refetchInterval: 5_000,
    enabled: session.agent_id === null,
  });
  const findings = useQuery({
    queryKey: ['findings', session.tenant_id],
    queryFn: () => api<{ data: Finding[] }>(`/${t}/thoth/findings?per_page=10`),
  });
  const chain = useQuery({
    queryKey: ['verify-chain', session.tenant_id, ''],
    queryFn: () => api<Record<string, unknown>>(`/${t}/governance/evidence/verify-chain`),
  });
  const perMinute = useMemo(() => decisionsPerMinute(decisions.data ?? [], Date.now()), [decisions.data]);
  const series = useMemo(
    () =>
      OUTCOMES.map((o) => ({ label: o, values: perMinute.counts[o], color: DECISION_COLORS[o] ?? '#888' })),
    [perMinute],
  );
  const agentList = useAgentList(session);
  const byEscalation = useMemo(() => agentsByEscalation(agentList.data?.data ?? []), [agentList.data]);
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Overview</h1>
      <ErrorNote error={decisions.error} />
      <div className="cards">
        <div className="card">
          <h2>Decisions per minute</h2>
          <TimeChart
            label="Decisions per minute by outcome, last 30 minutes"
            x={perMinute.minutes}
            series={series}
          />
        </div>
        <div className="card">
          <h2>Open approvals</h2>
          <p className="big" data-testid="open-approvals">
            {session.agent_id === null ? (approvals.data?.total ?? '…') : 'n/a'}
          </p>
          <button type="button" onClick={() => navigate('/approvals')}>
            Open the queue
          </button>
        </div>
        <div className="card">
          <h2>Chain verification</h2>
          <ErrorNote error={chain.error} />
          {chain.isPending && <p role="status">Verifying…</p>}
          {chain.data && (
            <p className={chain.data.verified ? 'ok' : 'error'}>
              {chain.data.verified ? 'VERIFIED' : 'BROKEN'} · {String(chain.data.records_checked)} records
            </p>
          )}
          <button type="button" onClick={() => navigate('/evidence')}>
            Per agent
          </button>
        </div>
        <div className="card">
          <h2>Agents by current escalation</h2>
          <ErrorNote error={agentList.error} />
          <ul className="plain" aria-label="Agents by current escalation">
            {byEscalation.map((group) => (
              <li key={group.level} data-testid={`escalation-${group.level}`}>
                <strong>{LEVEL_LABELS[group.level]}</strong> · {group.agents.length}
                {group.level !== 'none' && (
                  <ul className="plain">
                    {group.agents.slice(0, 5).map((a) => (
                      <li key={a.agent_id}>
                        <a
                          href={`/console/agents/${encodeURIComponent(a.agent_id)}`}
                          onClick={(e) => {
                            e.preventDefault();
                            navigate(`/agents/${encodeURIComponent(a.agent_id)}`);
                          }}
                        >
                          {a.agent_id}
                        </a>{' '}
                        · score {a.escalation_score}
                      </li>
                    ))}
                    {group.agents.length > 5 && <li className="muted">and {group.agents.length - 5} more</li>}
                  </ul>
                )}
              </li>
            ))}
            {agentList.isSuccess && byEscalation.length === 0 && (
              <li className="muted">No agents with a baseline yet.</li>
            )}
          </ul>
          <button type="button" onClick={() => navigate('/agents')}>
            All agents
          </button>
        </div>
        <div className="card wide">
          <h2>Newest findings</h2>
          <ErrorNote error={findings.error} />
          <ul className="plain">
            {(findings.data?.data ?? []).map((f) => (
              <li key={f.finding_id}>
                {formatTime(Date.parse(f.occurred_at ?? ''))} · {f.agent_id} · <strong>{f.detector}</strong> ·{' '}
                {f.explanation}
              </li>
            ))}
            {findings.data?.data.length === 0 && <li className="muted">No findings.</li>}
          </ul>
        </div>
      </div>
    </section>
  );
}
