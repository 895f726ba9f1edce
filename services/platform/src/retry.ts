/** The longest delay `setTimeout` takes (a larger one fires at once: a retry loop would spin). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The one backoff of every retry loop in Thoth: `initialMs` at attempt 0, doubling with each further attempt,
 * never above `maxMs` (nor what a timer can wait). The exponent is capped so that a long outage cannot overflow.
 */
export function backoffMs(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, MAX_TIMER_MS, initialMs * 2 ** Math.min(Math.max(attempt, 0), 30));
}
