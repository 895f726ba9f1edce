import type { SessionRisk } from './types.ts';

/**
 * Accumulated session risk never exceeds this: a burst of violations can then keep a session escalated for
 * at most the time it takes to decay from the maximum, not for ever longer.
 */
export const MAX_SESSION_RISK = 100;

/** The session's stored risk after exponential decay with `halfLifeMs` since it was stored. */
export function decayedSessionRisk(
  session: SessionRisk | undefined,
  nowMs: number,
  halfLifeMs: number,
): number {
  if (session === undefined || session.risk <= 0) return 0;
  // A clock that went backwards must not make risk grow.
  const elapsedMs = Math.max(0, nowMs - session.updatedAtMs);
  return Math.min(MAX_SESSION_RISK, session.risk * 0.5 ** (elapsedMs / halfLifeMs));
}

/**
 * Joins two views of one session's risk (two API replicas' — see SharedSessionStore): the result is what the
 * larger of the two decayed risks would be at the later of the two times, and the larger counts.
 *
 * Why a join and not "the newer wins": a session's risk after a call is never less than its risk before the
 * call, decayed (calls only add points), so when one replica's update follows the other's, the join is exactly
 * the newer state — and when two replicas decided calls of one session at the same moment, the join keeps the
 * riskier view instead of letting a harmless call erase a violation decided elsewhere. It is commutative,
 * associative and idempotent (comparing decayed risks at one time does not depend on which time), so every
 * replica converges on the same state whatever order the updates arrive in.
 */
export function joinSessionRisk(a: SessionRisk | undefined, b: SessionRisk, halfLifeMs: number): SessionRisk {
  if (a === undefined) return b;
  const at = Math.max(a.updatedAtMs, b.updatedAtMs);
  return {
    risk: Math.max(decayedSessionRisk(a, at, halfLifeMs), decayedSessionRisk(b, at, halfLifeMs)),
    blocked: Math.max(a.blocked, b.blocked),
    calls: Math.max(a.calls, b.calls),
    updatedAtMs: at,
  };
}
