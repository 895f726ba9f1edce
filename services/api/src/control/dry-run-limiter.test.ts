import { describe, expect, it } from 'vitest';
import { DRY_RUNS_PER_MINUTE, DryRunLimiter, MAX_CONCURRENT_DRY_RUNS } from './dry-run-limiter.ts';

describe('DryRunLimiter', () => {
  it('runs one dry run at a time per tenant', () => {
    const limiter = new DryRunLimiter(() => 0);
    const first = limiter.acquire('acme');
    expect(first.ok).toBe(true);
    expect(limiter.acquire('acme')).toMatchObject({ ok: false, status: 429, code: 'dry_run_in_progress' });
    if (first.ok) first.release();
    expect(limiter.acquire('acme').ok).toBe(true);
  });

  it(`allows ${DRY_RUNS_PER_MINUTE} a minute per tenant, and says when the next one may start`, () => {
    let now = 0;
    const limiter = new DryRunLimiter(() => now);
    for (let i = 0; i < DRY_RUNS_PER_MINUTE; i++) {
      const slot = limiter.acquire('acme');
      if (slot.ok) slot.release();
      now += 1_000;
    }
    expect(limiter.acquire('acme')).toMatchObject({
      ok: false,
      status: 429,
      code: 'rate_limited',
      retryAfterSeconds: 54,
    });
    expect(limiter.acquire('other').ok).toBe(true);
    now = 60_000;
    expect(limiter.acquire('acme').ok).toBe(true);
  });

  it(`runs at most ${MAX_CONCURRENT_DRY_RUNS} in the process`, () => {
    const limiter = new DryRunLimiter(() => 0);
    for (let i = 0; i < MAX_CONCURRENT_DRY_RUNS; i++) expect(limiter.acquire(`tenant-${i}`).ok).toBe(true);
    expect(limiter.acquire('one-more')).toMatchObject({ ok: false, status: 503, code: 'dry_run_busy' });
  });
});
