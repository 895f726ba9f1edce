import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { ErrorNote, JsonBlock } from '../components.tsx';
import { api, type SessionInfo } from '../lib/api.ts';
import { navigate } from '../lib/router.ts';
import { lineDiff } from '../lib/text-diff.ts';

interface PolicyVersion {
  version: number;
  created_at?: string;
  created_by?: string;
  comment?: string | null;
  deleted?: boolean;
  document?: unknown;
}

/** The tenant's active rules (file or API), its versions with a diff, and a dry run over recorded traffic. */
export function PoliciesView({ session, params }: { session: SessionInfo; params: URLSearchParams }) {
  const t = encodeURIComponent(session.tenant_id);
  const list = useQuery({
    queryKey: ['policies', session.tenant_id],
    queryFn: () =>
      api<{ current_version: number; source: string; data: PolicyVersion[] }>(`/${t}/thoth/policies`),
  });
  const a = Number(params.get('a') ?? 0);
  const b = Number(params.get('b') ?? 0);
  const left = useQuery({
    queryKey: ['policy-version', session.tenant_id, a],
    queryFn: () => api<PolicyVersion>(`/${t}/thoth/policies/versions/${a}`),
    enabled: a > 0,
  });
  const right = useQuery({
    queryKey: ['policy-version', session.tenant_id, b],
    queryFn: () => api<PolicyVersion>(`/${t}/thoth/policies/versions/${b}`),
    enabled: b > 0,
  });
  // The active document: API-managed versions have one; a file policy is the process's THOTH_POLICY_FILE.
  const current = list.data?.source === 'api' ? list.data.current_version : 0;
  const active = useQuery({
    queryKey: ['policy-version', session.tenant_id, current],
    queryFn: () => api<PolicyVersion>(`/${t}/thoth/policies/versions/${current}`),
    enabled: current > 0,
  });
  const [rules, setRules] = useState('');
  const dryRun = useMutation({
    mutationFn: () =>
      api<Record<string, unknown>>(`/${t}/thoth/policies/dry-run`, {
        method: 'POST',
        body: { policy: JSON.parse(rules) as unknown },
      }),
  });
  const diff =
    left.data && right.data
      ? lineDiff(JSON.stringify(left.data.document, null, 2), JSON.stringify(right.data.document, null, 2))
      : [];
  return (
    <section aria-labelledby="policies-title">
      <h1 id="policies-title">Policies</h1>
      <ErrorNote error={list.error} />
      {list.data && (
        <p>
          Active version <strong>{list.data.current_version}</strong> from <strong>{list.data.source}</strong>
        </p>
      )}
      {active.data && <JsonBlock value={active.data.document} label="Active policy document" />}
      {list.data?.source === 'file' && (
        <p className="muted">The active rules come from the policy file the process was started with.</p>
      )}
      <h2>Versions</h2>
      <table className="table" aria-label="Policy versions">
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Created</th>
            <th scope="col">By</th>
            <th scope="col">Comment</th>
            <th scope="col">Compare</th>
          </tr>
        </thead>
        <tbody>
          {(list.data?.data ?? []).map((v) => (
            <tr key={v.version}>
              <td>
                {v.version}
                {v.deleted ? ' (deleted)' : ''}
              </td>
              <td>{v.created_at ?? ''}</td>
              <td>{v.created_by ?? ''}</td>
              <td>{v.comment ?? ''}</td>
              <td>
                <button
                  type="button"
                  className="link"
                  onClick={() => navigate(`/policies?a=${v.version}&b=${b || v.version}`, true)}
                >
                  as A
                </button>{' '}
                <button
                  type="button"
                  className="link"
                  onClick={() => navigate(`/policies?a=${a || v.version}&b=${v.version}`, true)}
                >
                  as B
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {a > 0 && b > 0 && (
        <>
          <h2>
            Diff v{a} → v{b}
          </h2>
          <pre className="json diff" title={`Diff of policy versions ${a} and ${b}`}>
            {diff.map((line, i) => (
              // biome-ignore lint/suspicious/noArrayIndexKey: lines of a fixed diff
              <span key={i} className={`diff-${line.op}`}>
                {line.op === 'add' ? '+ ' : line.op === 'del' ? '- ' : '  '}
                {line.text}
                {'\n'}
              </span>
            ))}
          </pre>
        </>
      )}
      <h2>Dry run against recorded traffic</h2>
      <label htmlFor="dry-run-rules">Policy document (JSON)</label>
      <textarea
        id="dry-run-rules"
        rows={6}
        value={rules}
        onChange={(e) => setRules(e.target.value)}
        placeholder='{"rules":[{"id":"no-wire","condition":"tool == \"wire\"","effect":"BLOCK"}]}'
      />
      <button type="button" onClick={() => dryRun.mutate()} disabled={rules === '' || dryRun.isPending}>
        Dry run
      </button>
      <ErrorNote error={dryRun.error} />
      {dryRun.data && <JsonBlock value={dryRun.data} label="Dry-run result" />}
    </section>
  );
}
