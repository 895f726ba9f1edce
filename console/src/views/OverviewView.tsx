import { useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useMemo } from 'react';
import { DECISION_COLORS, ErrorNote, formatTime, TimeChart } from '../components.tsx';
import { agentRows, agentsByEscalation, LEVEL_LABELS } from '../lib/agents-model.ts';
import { api, query, type SessionInfo } from '../lib/api.ts';
import { rowFromApi } from '../lib/feed-model.ts';
import { decisionsPerMinute, OUTCOMES } from '../lib/overview-model.ts';
import { runPool } from '../lib/pool.ts';
import { navigate } from '../lib/router.ts';
import { type Finding, useAgentList } from './AgentsView.tsx';
import type { Approval } from './ApprovalsView.tsx';
import { verifyChainQuery } from './EvidenceView.tsx';

/** Agents' chains verified at once when the overview opens (each verify-chain reads a whole chain). */
const CHAIN_CONCURRENCY = 2;

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
  const perMinute = useMemo(() => decisionsPerMinute(decisions.data ?? [], Date.now()), [decisions.data]);
  const series = useMemo(
    () =>
      OUTCOMES.map((o) => ({ label: o, values: perMinute.counts[o], color: DECISION_COLORS[o] ?? '#888' })),
    [perMinute],
  );
  const agentList = useAgentList(session);
  const byEscalation = useMemo(() => agentsByEscalation(agentList.data?.data ?? []), [agentList.data]);
  const agentIds = useMemo(() => {
    const seen = new Map<string, number>();
    for (const d of decisions.data ?? []) seen.set(d.agentId, Math.max(seen.get(d.agentId) ?? 0, d.at));
    return agentRows(agentList.data?.data ?? [], seen).map((a) => a.agentId);
  }, [agentList.data, decisions.data]);
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
          <h2>Chain verification per agent</h2>
          <AgentChains
            tenant={session.tenant_id}
            agentIds={agentIds}
            ready={agentList.isFetched && decisions.isFetched}
          />
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

type ChainState = ReturnType<typeof useQueries<ReturnType<typeof verifyChainQuery>[]>>[number];

/** One agent's chain status: verified, broken (its first broken link), being verified, or not yet checked. */
function chainStatus(q: ChainState): { text: string; className: string } {
  if (q.data) {
    const b = q.data.breach_detail;
    if (q.data.verified)
      return { text: `verified · ${String(q.data.records_checked)} records`, className: 'ok' };
    if (b)
      return { text: `BROKEN at #${b.chain_index} (${b.reason}, event ${b.event_id})`, className: 'error' };
    return { text: 'BROKEN: the signed checkpoint contradicts the chain', className: 'error' };
  }
  if (q.fetchStatus === 'fetching') return { text: 'verifying…', className: 'muted' };
  if (q.error) return { text: `not checked: ${q.error.message}`, className: 'warn' };
  return { text: 'not yet checked', className: 'muted' };
}

/**
 * Each agent's chain, verified on the server (verify-chain?agent_id=) when the overview first shows the agent,
 * two at a time, and kept for the session: the overview's refreshes never verify a chain again (Evidence's
 * "Verify again" does).
 */
export function AgentChains({
  tenant,
  agentIds,
  ready,
}: {
  tenant: string;
  agentIds: readonly string[];
  ready: boolean;
}) {
  const queryClient = useQueryClient();
  const results = useQueries({
    queries: agentIds.map((id) => ({ ...verifyChainQuery(tenant, id), enabled: false })),
  });
  const key = agentIds.join('\n');
  // biome-ignore lint/correctness/useExhaustiveDependencies: runs when the set of agents changes (`key`)
  useEffect(() => {
    const controller = new AbortController();
    const todo = agentIds.filter(
      (id) => queryClient.getQueryState(verifyChainQuery(tenant, id).queryKey)?.status !== 'success',
    );
    void runPool(
      todo,
      CHAIN_CONCURRENCY,
      (id) => queryClient.fetchQuery(verifyChainQuery(tenant, id)),
      controller.signal,
    );
    return () => controller.abort();
  }, [key, tenant, queryClient]);
  const done = results.filter((q) => q.data !== undefined || q.error !== null).length;
  const broken = results.filter((q) => q.data && !q.data.verified).length;
  if (!ready && agentIds.length === 0)
    return (
      <p role="status" className="muted" data-testid="chains-progress">
        Listing agents…
      </p>
    );
  if (agentIds.length === 0) return <p className="muted">No agents yet.</p>;
  return (
    <>
      <p role="status" data-testid="chains-progress">
        {done < agentIds.length ? (
          <>
            Verifying chains: {done} of {agentIds.length} agents checked{' '}
            <progress aria-label="Agents' chains checked" max={Math.max(1, agentIds.length)} value={done} />
          </>
        ) : (
          <>
            {agentIds.length} agents checked ·{' '}
            <span className={broken > 0 ? 'error' : 'ok'}>
              {broken > 0 ? `${broken} BROKEN` : 'every chain verified'}
            </span>
          </>
        )}
      </p>
      <table className="table" aria-label="Chain verification per agent">
        <thead>
          <tr>
            <th scope="col">Agent</th>
            <th scope="col">Chain</th>
          </tr>
        </thead>
        <tbody>
          {agentIds.map((id, i) => {
            const q = results[i];
            const status = q ? chainStatus(q) : { text: 'not yet checked', className: 'muted' };
            return (
              <tr key={id} data-testid="chain-row">
                <td>
                  <a
                    href={`/console/evidence?agent_id=${encodeURIComponent(id)}`}
                    onClick={(e) => {
                      e.preventDefault();
                      navigate(`/evidence?agent_id=${encodeURIComponent(id)}`);
                    }}
                  >
                    {id}
                  </a>
                </td>
                <td className={status.className}>{status.text}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </>
  );
}
