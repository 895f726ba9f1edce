/**
 * Tracks whether the enforcer is in an outage so fail-open warns once per outage, not once per tool call
 * (an agent making 50 calls a second must not flood its log). Pure state, no timers.
 */
export class OutageMonitor {
  private since: number | undefined;
  private skipped = 0;

  /** Records a failure; true when it starts an outage (the caller warns then). */
  failed(now: number): boolean {
    if (this.since !== undefined) {
      this.skipped++;
      return false;
    }
    this.since = now;
    this.skipped = 0;
    return true;
  }

  /** Records a success; the ended outage (for a recovery note) or undefined when there was none. */
  recovered(now: number): { durationMs: number; failedCalls: number } | undefined {
    if (this.since === undefined) return undefined;
    const ended = { durationMs: now - this.since, failedCalls: this.skipped + 1 };
    this.since = undefined;
    return ended;
  }

  get inOutage(): boolean {
    return this.since !== undefined;
  }
}
