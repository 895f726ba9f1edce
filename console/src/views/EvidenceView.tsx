import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { ErrorNote, JsonBlock } from '../components.tsx';
import { api, query, type SessionInfo } from '../lib/api.ts';
import {
  type ChainProgress,
  type LinksPage,
  type ServerVerdict,
  verdictsAgree,
  verifyChainInBrowser,
} from '../lib/chain-verify.ts';
import { navigate } from '../lib/router.ts';

/** Rows per page of the browser's recomputation: a progress step every 1,000 links. */
const LINKS_PAGE = 1_000;

/** The server's verify-chain of one agent ('' for every agent), cached for the session (the overview shares it). */
export const verifyChainQuery = (tenant: string, agent: string) => ({
  queryKey: ['verify-chain', tenant, agent],
  queryFn: () =>
    api<ServerVerdict & Record<string, unknown>>(
      `/${encodeURIComponent(tenant)}/governance/evidence/verify-chain${query({ agent_id: agent })}`,
    ),
  staleTime: Number.POSITIVE_INFINITY,
  gcTime: Number.POSITIVE_INFINITY,
});

/**
 * Verify an agent's (or the tenant's) chain: the server recomputes it (records checked, head, checkpoint,
 * breach) and, for one agent, the browser recomputes every link too, page by page, showing how far it got —
 * the verdict appears once both are done, with whether they agree.
 */
export function EvidenceView({ session, params }: { session: SessionInfo; params: URLSearchParams }) {
  const agent = params.get('agent_id') ?? session.agent_id ?? '';
  const [progress, setProgress] = useState<ChainProgress | null>(null);
  const server = useQuery(verifyChainQuery(session.tenant_id, agent));
  const browser = useQuery({
    queryKey: ['verify-chain-browser', session.tenant_id, agent],
    enabled: agent !== '',
    staleTime: Number.POSITIVE_INFINITY,
    retry: false,
    queryFn: ({ signal }) => {
      setProgress({ checked: 0, total: 0 });
      return verifyChainInBrowser(
        agent,
        (from) =>
          api<LinksPage>(
            `/console/api/evidence/links${query({
              tenant: session.tenant_id,
              agent_id: agent,
              from_sequence: from,
              limit: LINKS_PAGE,
            })}`,
          ),
        setProgress,
        signal,
      );
    },
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = String(new FormData(event.currentTarget).get('agent_id') ?? '').trim();
    navigate(id ? `/evidence?agent_id=${encodeURIComponent(id)}` : '/evidence', true);
  };
  const again = () => {
    void server.refetch();
    if (agent !== '') void browser.refetch();
  };
  const r = server.data;
  // The browser's pass failing (an older server without the links route) leaves the server's verdict alone.
  const browserDone = agent === '' || browser.isSuccess || browser.isError;
  const busy = server.isFetching || (agent !== '' && browser.isFetching);
  const agree = r && browser.data ? verdictsAgree(agent, browser.data, r) : undefined;
  return (
    <section aria-labelledby="evidence-title">
      <h1 id="evidence-title">Evidence</h1>
      <form onSubmit={submit} className="row" key={agent}>
        <label htmlFor="evidence-agent">Agent (empty: every agent)</label>
        <input id="evidence-agent" name="agent_id" defaultValue={agent} />
        <button type="submit">Verify chain</button>
        {!busy && (r || browser.data) && (
          <button type="button" className="ghost" onClick={again}>
            Verify again
          </button>
        )}
      </form>
      {busy && agent !== '' && (
        <div role="status" className="chain-progress">
          <p>
            Recomputing the links in this browser:{' '}
            <strong data-testid="chain-progress">
              {(progress?.checked ?? 0).toLocaleString('en')} of{' '}
              {progress && progress.total > 0 ? progress.total.toLocaleString('en') : '…'}
            </strong>{' '}
            records · server check {server.isFetching ? 'running' : 'done'}
          </p>
          <progress
            aria-label="Records checked"
            max={Math.max(1, progress?.total ?? 0)}
            value={progress?.checked ?? 0}
          />
        </div>
      )}
      {busy && agent === '' && (
        <p role="status">
          Verifying every agent’s chain on the server… <progress aria-label="Verifying the chain" />
        </p>
      )}
      <ErrorNote error={server.error} />
      {browser.error ? (
        <p className="muted">The browser could not recompute the chain ({String(browser.error)}).</p>
      ) : null}
      {r && browserDone && !busy && (
        <>
          <p className={`verdict ${r.verified ? 'valid' : 'invalid'}`} role="status">
            <strong>{r.verified ? 'VERIFIED' : 'BROKEN'}</strong> · {String(r.records_checked)} records
            checked
          </p>
          {browser.data && (
            <p className={agree ? 'ok' : 'error'} data-testid="browser-verdict">
              This browser recomputed {browser.data.records_checked.toLocaleString('en')} links:{' '}
              {browser.data.verified
                ? 'all intact'
                : `first broken link at #${browser.data.breach_detail?.chain_index} (${browser.data.breach_detail?.reason})`}{' '}
              — {agree ? 'agrees with the server' : 'DISAGREES with the server: verify again'}
            </p>
          )}
          {r.breach_detail ? <JsonBlock value={r.breach_detail} label="Breach detail" /> : null}
          <h2>Chain head</h2>
          <JsonBlock value={r.chain_head ?? null} label="Chain head" />
          <h2>Checkpoint and its signature</h2>
          <JsonBlock value={r.checkpoint ?? null} label="Checkpoint" />
        </>
      )}
    </section>
  );
}
