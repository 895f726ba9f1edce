import { useQuery } from '@tanstack/react-query';
import type { FormEvent } from 'react';
import { ErrorNote, JsonBlock } from '../components.tsx';
import { api, query, type SessionInfo } from '../lib/api.ts';
import { navigate } from '../lib/router.ts';

/** Verify an agent's (or the tenant's) chain on the server: records checked, head, checkpoint, breach. */
export function EvidenceView({ session, params }: { session: SessionInfo; params: URLSearchParams }) {
  const agent = params.get('agent_id') ?? session.agent_id ?? '';
  const result = useQuery({
    queryKey: ['verify-chain', session.tenant_id, agent],
    queryFn: () =>
      api<Record<string, unknown>>(
        `/${encodeURIComponent(session.tenant_id)}/governance/evidence/verify-chain${query({ agent_id: agent })}`,
      ),
  });
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const id = String(new FormData(event.currentTarget).get('agent_id') ?? '').trim();
    navigate(id ? `/evidence?agent_id=${encodeURIComponent(id)}` : '/evidence', true);
  };
  const r = result.data;
  return (
    <section aria-labelledby="evidence-title">
      <h1 id="evidence-title">Evidence</h1>
      <form onSubmit={submit} className="row" key={agent}>
        <label htmlFor="evidence-agent">Agent (empty: every agent)</label>
        <input id="evidence-agent" name="agent_id" defaultValue={agent} />
        <button type="submit">Verify chain</button>
      </form>
      {result.isFetching && (
        <p role="status">
          Verifying… <progress aria-label="Verifying the chain" />
        </p>
      )}
      <ErrorNote error={result.error} />
      {r && (
        <>
          <p className={`verdict ${r.verified ? 'valid' : 'invalid'}`} role="status">
            <strong>{r.verified ? 'VERIFIED' : 'BROKEN'}</strong> · {String(r.records_checked)} records
            checked
          </p>
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
