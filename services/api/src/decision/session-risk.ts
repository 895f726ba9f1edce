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
