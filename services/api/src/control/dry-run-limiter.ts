/**
 * Who may start a dry run now. A dry run reads up to THOTH_DRY_RUN_MAX_EVENTS decisions from the store and
 * keeps a thread busy for up to its deadline, and a `read` key may run one with a rule set of its own: per
 * tenant, one at a time and DRY_RUNS_PER_MINUTE a minute, and at most MAX_CONCURRENT_DRY_RUNS in the process
 * (each takes a core, and the enforce path needs one). In memory, per replica, whoever asks (key or admin token).
 */
export const DRY_RUNS_PER_MINUTE = 6;
export const MAX_CONCURRENT_DRY_RUNS = 2;

const MINUTE_MS = 60_000;

export type DryRunSlot =
  | { ok: true; release(): void }
  | { ok: false; status: 429 | 503; code: string; message: string; retryAfterSeconds: number };

export class DryRunLimiter {
  private readonly running = new Set<string>();
  /** Start times within the last minute, per tenant, oldest first. */
  private readonly started = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  acquire(tenant: string): DryRunSlot {
    const now = this.now();
    const recent = (this.started.get(tenant) ?? []).filter((at) => now - at < MINUTE_MS);
    this.started.set(tenant, recent);
    if (this.running.has(tenant))
      return refused(429, 'dry_run_in_progress', 'a dry run of this tenant is already running', 5);
    if (recent.length >= DRY_RUNS_PER_MINUTE)
      return refused(
        429,
        'rate_limited',
        `at most ${DRY_RUNS_PER_MINUTE} dry runs a minute per tenant`,
        Math.ceil((recent[0]! + MINUTE_MS - now) / 1000),
      );
    if (this.running.size >= MAX_CONCURRENT_DRY_RUNS)
      return refused(503, 'dry_run_busy', 'other dry runs are using every dry-run thread', 5);
    recent.push(now);
    this.running.add(tenant);
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        this.running.delete(tenant);
      },
    };
  }
}

function refused(status: 429 | 503, code: string, message: string, retryAfterSeconds: number): DryRunSlot {
  return { ok: false, status, code, message, retryAfterSeconds: Math.max(1, retryAfterSeconds) };
}
