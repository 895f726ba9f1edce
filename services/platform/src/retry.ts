/**
 * The one backoff of every retry loop in Thoth: `initialMs` after the first failure (attempt 0), doubling with
 * each further attempt, never above `maxMs`. The exponent is capped so that a long outage cannot overflow it.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
}
