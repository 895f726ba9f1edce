import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import { DecisionBadge, ErrorNote, formatTime, JsonBlock } from '../components.tsx';
import { api, canApprove, query, type SessionInfo } from '../lib/api.ts';
import { rowFromApi } from '../lib/feed-model.ts';
import { navigate } from '../lib/router.ts';

export interface Approval {
  id: string;
  status: 'pending' | 'approved' | 'denied' | 'expired';
  agent_id: string;
  session_id: string;
  tool_name: string;
  args_digest: string;
  args_preview: unknown;
  reason: string;
  reason_code: string;
  risk_score: number;
  finding_ids: string[];
  created_at: string;
  expires_at: string;
  resolved_at: string | null;
  resolved_by: string | null;
  comment: string | null;
  /** IdP groups whose members may vote (empty: any approver). */
  approvers: string[];
  approvals_required: number;
  policy_version: number;
  votes: ApprovalVote[];
}

export interface ApprovalVote {
  principal: {
    kind: string;
    issuer: string | null;
    subject: string | null;
    email: string | null;
    key_id: string | null;
    name: string | null;
  };
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

/** Who voted, as a person reads it. */
export function voterName(p: ApprovalVote['principal']): string {
  if (p.kind === 'person') return p.email ?? p.subject ?? 'a person';
  if (p.kind === 'key') return `key ${p.name ?? ''} (${p.key_id ?? '?'})`;
  return p.name ?? 'admin token';
}

const STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;

/** Seconds left before a hold expires to BLOCK, as "m:ss". */
export function timeLeft(expiresAt: string, now: number): string {
  const s = Math.max(0, Math.round((Date.parse(expiresAt) - now) / 1_000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** The step-up queue (live: polled every 2 s) and the resolved history. */
export function ApprovalsView({ session, params }: { session: SessionInfo; params: URLSearchParams }) {
  const status = (STATUSES as readonly string[]).includes(params.get('status') ?? '')
    ? (params.get('status') as Approval['status'])
    : 'pending';
  const list = useQuery({
    queryKey: ['approvals', session.tenant_id, status],
    queryFn: () =>
      api<{ data: Approval[]; total: number }>(
        `/${encodeURIComponent(session.tenant_id)}/thoth/approvals${query({ status, per_page: 200 })}`,
      ),
    refetchInterval: status === 'pending' ? 2_000 : false,
    enabled: session.agent_id === null, // the API reads every approval of the tenant: never an agent's key
  });
  const [openId, setOpenId] = useState<string | undefined>(params.get('id') ?? undefined);
  const open = list.data?.data.find((a) => a.id === openId);
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = window.setInterval(() => setNow(Date.now()), 1_000);
    return () => window.clearInterval(t);
  }, []);
  if (session.agent_id !== null)
    return (
      <section>
        <h1>Approvals</h1>
        <p>This key is scoped to agent {session.agent_id}: approvals are tenant-wide.</p>
      </section>
    );
  return (
    <section aria-labelledby="approvals-title">
      <div className="view-head">
        <h1 id="approvals-title">Approvals</h1>
        <div role="tablist" aria-label="Approval status" className="tabs">
          {STATUSES.map((s) => (
            <button
              type="button"
              role="tab"
              key={s}
              aria-selected={s === status}
              onClick={() => navigate(s === 'pending' ? '/approvals' : `/approvals?status=${s}`, true)}
            >
              {s}
            </button>
          ))}
        </div>
      </div>
      <ErrorNote error={list.error} />
      <div className="split">
        <table className="table" aria-label={`${status} approvals`}>
          <thead>
            <tr>
              <th scope="col">Created</th>
              <th scope="col">Agent</th>
              <th scope="col">Tool</th>
              <th scope="col">Reason</th>
              <th scope="col">{status === 'pending' ? 'Time left' : 'Resolved by'}</th>
            </tr>
          </thead>
          <tbody>
            {(list.data?.data ?? []).map((a) => (
              <tr key={a.id} className={a.id === openId ? 'selected' : ''} data-testid="approval-row">
                <td>
                  <button type="button" className="link" onClick={() => setOpenId(a.id)}>
                    {formatTime(Date.parse(a.created_at))}
                  </button>
                </td>
                <td>{a.agent_id}</td>
                <td>{a.tool_name}</td>
                <td>{a.reason_code}</td>
                <td>{status === 'pending' ? timeLeft(a.expires_at, now) : (a.resolved_by ?? '—')}</td>
              </tr>
            ))}
            {list.data?.data.length === 0 && (
              <tr>
                <td colSpan={5} className="muted">
                  No {status} approvals.
                </td>
              </tr>
            )}
          </tbody>
        </table>
        {open && <ApprovalDetail key={open.id} approval={open} session={session} now={now} />}
      </div>
    </section>
  );
}

function ApprovalDetail({
  approval,
  session,
  now,
}: {
  approval: Approval;
  session: SessionInfo;
  now: number;
}) {
  const queryClient = useQueryClient();
  const [comment, setComment] = useState('');
  const recent = useQuery({
    queryKey: ['agent-recent', session.tenant_id, approval.agent_id],
    queryFn: async () =>
      (
        await api<{ data: Record<string, unknown>[] }>(
          `/${encodeURIComponent(session.tenant_id)}/thoth/governance/feed${query({
            agent_id: approval.agent_id,
            event_type: 'DECISION',
            per_page: 10,
          })}`,
        )
      ).data.map(rowFromApi),
  });
  const resolve = useMutation({
    mutationFn: (decision: 'approve' | 'deny') =>
      api(
        `/${encodeURIComponent(session.tenant_id)}/thoth/approvals/${encodeURIComponent(approval.id)}/resolve`,
        {
          method: 'POST',
          body: { decision, comment: comment.trim() || undefined },
        },
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['approvals'] }),
  });
  return (
    <aside className="detail" aria-label="Approval detail">
      <h2>
        {approval.tool_name} · {approval.agent_id}
      </h2>
      <p>
        Held by <strong>{approval.reason_code}</strong>: {approval.reason}
      </p>
      {approval.status === 'pending' && (
        <p>
          Expires in <strong data-testid="time-left">{timeLeft(approval.expires_at, now)}</strong> (then
          BLOCK)
        </p>
      )}
      <p>
        Session{' '}
        <a
          href={`/console/sessions/${encodeURIComponent(approval.session_id)}`}
          onClick={(e) => {
            e.preventDefault();
            navigate(`/sessions/${encodeURIComponent(approval.session_id)}`);
          }}
        >
          {approval.session_id}
        </a>{' '}
        · risk {approval.risk_score}
        {approval.finding_ids.length > 0 && ` · findings ${approval.finding_ids.join(', ')}`}
      </p>
      <h3>Arguments (redacted)</h3>
      <JsonBlock value={approval.args_preview} label="Redacted arguments of the held call" />
      <p className="mono small">args digest {approval.args_digest}</p>
      <p data-testid="approval-rule">
        Needs {approval.approvals_required} approval{approval.approvals_required === 1 ? '' : 's'}
        {approval.approvers.length > 0 ? ` from ${approval.approvers.join(' or ')}` : ''} · policy version{' '}
        {approval.policy_version}
      </p>
      {approval.votes.length > 0 && (
        <ul className="plain" aria-label="Votes">
          {approval.votes.map((v) => (
            <li key={`${v.at}-${voterName(v.principal)}`}>
              {v.decision === 'approve' ? 'Approved' : 'Denied'} by <strong>{voterName(v.principal)}</strong>{' '}
              {formatTime(Date.parse(v.at))}
              {v.comment ? ` — “${v.comment}”` : ''}
            </li>
          ))}
        </ul>
      )}
      {approval.status === 'pending' && canApprove(session) && (
        <div className="resolve">
          <label htmlFor="approval-comment">Comment</label>
          <textarea
            id="approval-comment"
            value={comment}
            onChange={(e) => setComment(e.target.value)}
            rows={2}
          />
          <div className="row">
            <button type="button" onClick={() => resolve.mutate('approve')} disabled={resolve.isPending}>
              Approve
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => resolve.mutate('deny')}
              disabled={resolve.isPending}
            >
              Deny
            </button>
          </div>
          <ErrorNote error={resolve.error} />
        </div>
      )}
      {approval.status === 'pending' && !canApprove(session) && (
        <p className="muted">
          {session.person
            ? `Your role is ${session.person.role}: deciding a step-up needs the approver role.`
            : 'Deciding a step-up needs a tenant-wide key with the admin permission, or signing in as an approver.'}
        </p>
      )}
      {approval.status !== 'pending' && (
        <p>
          {approval.status} by {approval.resolved_by ?? '—'} at{' '}
          {approval.resolved_at ? formatTime(Date.parse(approval.resolved_at)) : '—'}
          {approval.comment ? ` — “${approval.comment}”` : ''}
        </p>
      )}
      <h3>The agent's recent decisions</h3>
      <ul className="plain">
        {(recent.data ?? []).map((r) => (
          <li key={r.id}>
            {formatTime(r.at)} <DecisionBadge decision={r.decision} /> {r.toolName}
          </li>
        ))}
      </ul>
    </aside>
  );
}
