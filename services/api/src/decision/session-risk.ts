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
 * A session's risk from the contributions of several deciders (API replicas, SharedSessionStore), each the risk
 * its own decisions added, decayed from its own time: decay is linear, so the sum of the decayed contributions is
 * the decayed sum — exactly the risk one process deciding every call would hold (capped at the end, as one
 * process caps after each call; a replica adds only what its call added below the cap). Counts add up.
 */
export function sumSessionRisk(
  contributions: Iterable<SessionRisk>,
  halfLifeMs: number,
): SessionRisk | undefined {
  let at = Number.NEGATIVE_INFINITY;
  const all = [...contributions];
  if (all.length === 0) return undefined;
  for (const c of all) at = Math.max(at, c.updatedAtMs);
  let risk = 0;
  let blocked = 0;
  let calls = 0;
  for (const c of all) {
    risk += decayedSessionRisk(c, at, halfLifeMs);
    blocked += c.blocked;
    calls += c.calls;
  }
  return { risk: Math.min(MAX_SESSION_RISK, risk), blocked, calls, updatedAtMs: at };
}
