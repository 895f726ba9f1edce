export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

/**
 * Delay before retry number `attempt` (1-based): exponential, capped, with "equal jitter" — half the step is
 * fixed so a retry never fires immediately, half is random so many agents recovering from the same outage
 * do not retry in lockstep. Pure: `random` is injectable for tests.
 */
export function backoffDelayMs(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 30));
  const step = Math.min(options.maxMs, options.baseMs * 2 ** exponent);
  return Math.round(step / 2 + random() * (step / 2));
}
