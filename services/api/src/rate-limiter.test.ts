import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.ts';

describe('RateLimiter', () => {
  it('allows a burst of 2 × rate, then answers the seconds to wait, and refills with time', () => {
    let now = 0;
    const limiter = new RateLimiter(2, () => now);
    const key = { key: 'k', ratePerSecond: 5 };
    for (let i = 0; i < 10; i++) expect(limiter.take(key)).toBe(0);
    expect(limiter.take(key)).toBe(1);
    now += 200; // one token back at 5/s
    expect(limiter.take(key)).toBe(0);
    expect(limiter.take(key)).toBeGreaterThan(0);
  });

  it('a request needs a token in every bucket; a refusal takes none (the tenant bucket caps all its keys)', () => {
    let now = 0;
    const limiter = new RateLimiter(1, () => now);
    const tenant = { key: 'tenant:acme', ratePerSecond: 3 };
    const a = { key: 'key:a', ratePerSecond: 2 };
    const b = { key: 'key:b', ratePerSecond: 2 };
    expect(limiter.take(a, tenant)).toBe(0);
    expect(limiter.take(a, tenant)).toBe(0);
    expect(limiter.take(a, tenant)).toBe(1); // key a is empty
    expect(limiter.take(b, tenant)).toBe(0); // the tenant still had one
    expect(limiter.take(b, tenant)).toBe(1); // the tenant is empty, b is not
    now += 1_000;
    expect(limiter.take(b, tenant)).toBe(0);
  });
});
