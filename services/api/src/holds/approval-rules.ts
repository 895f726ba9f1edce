import type { ApprovalVote, HoldRecord, PrincipalRecord } from '@thoth/contracts';
import { type Principal, principalIdentity, principalLabel, principalRecord } from '../http/principal.ts';

/**
 * Who may vote on a hold and what the votes add up to (docs/approvals.md). Pure: the registry linearizes votes
 * on the approvals topic and asks these functions what a vote means.
 */

export const votesOf = (hold: HoldRecord): ApprovalVote[] => hold.votes ?? [];
export const approvalsRequired = (hold: HoldRecord): number => Math.max(1, hold.approvals_required ?? 1);

/** An identifier as separation of duties compares it. */
const sameIdentifier = (value: string): string => value.normalize('NFKC').trim().toLowerCase();

/** Why `principal` may not vote on `hold` (a sentence for the 403), or undefined when it may. */
export function voteRefusal(hold: HoldRecord, principal: Principal | string): string | undefined {
  const voter = principalRecord(principal);
  if (typeof principal !== 'string' && principal.kind === 'person') {
    // Separation of duties: the person the agent acted for cannot release their own agent's call.
    // Compared as people write them: compatibility forms (full-width letters, ligatures), case and spaces aside.
    // Only as strong as the user_id the agent reports (docs/sso.md).
    const held = sameIdentifier(hold.user_id);
    const own = [principal.email, principal.subject].filter((v): v is string => !!v).map(sameIdentifier);
    if (held !== '' && own.includes(held))
      return `separation of duties: this call was made for you ("${hold.user_id}"); another person must decide it`;
    const approvers = hold.approvers ?? [];
    if (approvers.length > 0 && !principal.groups.some((g) => approvers.includes(g)))
      return `this approval needs a member of ${approvers.map((g) => `"${g}"`).join(' or ')}`;
  } else {
    // Groups and "distinct people" are facts about people: a key or the admin token cannot stand in for them.
    if ((hold.approvers ?? []).length > 0)
      return `this approval needs a signed-in member of ${(hold.approvers ?? []).map((g) => `"${g}"`).join(' or ')}, not ${principalLabel(principal)}`;
    if (approvalsRequired(hold) > 1)
      return `this approval needs ${approvalsRequired(hold)} different people signed in, not ${principalLabel(principal)}`;
  }
  if (votesOf(hold).some((v) => principalIdentity(v.principal) === principalIdentity(voter)))
    return 'you have voted on this approval already: one person counts once';
  return undefined;
}

/**
 * The hold after `vote`: still pending until the required number of distinct approvals, denied at the first
 * denial, approved at the last approval needed. `resolved_by` lists who decided.
 */
export function withVote(hold: HoldRecord, vote: ApprovalVote): HoldRecord {
  const votes = [...votesOf(hold), vote];
  const approvals = votes.filter((v) => v.decision === 'approve');
  const status: HoldRecord['status'] =
    vote.decision === 'deny'
      ? 'denied'
      : approvals.length >= approvalsRequired(hold)
        ? 'approved'
        : 'pending';
  if (status === 'pending') return { ...hold, votes };
  const deciders = status === 'denied' ? [vote] : approvals;
  return {
    ...hold,
    votes,
    status,
    resolved_at: vote.at,
    resolved_by: deciders.map((v) => voterLabel(v.principal)).join(', '),
    comment: vote.comment,
  };
}

/** The label a vote's principal shows (as `principalLabel` for a live principal). */
export function voterLabel(p: PrincipalRecord): string {
  if (p.kind === 'person') return `${p.email ?? p.subject ?? '?'} (${p.issuer ?? '?'})`;
  if (p.kind === 'key') return p.key_id ? `${p.name ?? ''} (${p.key_id})` : (p.name ?? 'key');
  return p.name ?? 'admin-token';
}

/** Whether `incoming` is `known` plus exactly one vote: the only record that may add a vote (compare-and-set). */
export function addsOneVote(known: HoldRecord, incoming: HoldRecord): boolean {
  const before = votesOf(known);
  const after = votesOf(incoming);
  return after.length === before.length + 1 && before.every((v, i) => after[i]?.vote_id === v.vote_id);
}

/** Whether two records carry the same state (a duplicate or a republished winner). */
export function sameState(a: HoldRecord, b: HoldRecord): boolean {
  const va = votesOf(a);
  const vb = votesOf(b);
  return a.status === b.status && va.length === vb.length && va.every((v, i) => vb[i]?.vote_id === v.vote_id);
}
