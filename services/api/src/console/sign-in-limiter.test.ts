import { describe, expect, it } from 'vitest';
import { KEY_PREFIX_LENGTH, SignInLimiter } from './sign-in-limiter.ts';

describe('console sign-in limiter', () => {
  it('allows 10 failures a minute per subject, then asks to wait until the oldest leaves the window', () => {
    let now = 1_000_000;
    const limiter = new SignInLimiter(10, 60_000, () => now);
    const subjects = SignInLimiter.subjects('203.0.113.7', 'thoth_live_guess-1');
    for (let i = 0; i < 10; i++) {
      expect(limiter.retryAfterSeconds(subjects)).toBe(0);
      limiter.fail(subjects);
      now += 1_000;
    }
    // The first failure was at 1_000_000; it leaves the window at 1_060_000, 50 s from now.
    expect(limiter.retryAfterSeconds(subjects)).toBe(50);
    now += 49_000;
    expect(limiter.retryAfterSeconds(subjects)).toBe(1);
    now += 1_000;
    expect(limiter.retryAfterSeconds(subjects)).toBe(0);
  });

  it('counts per IP and per key prefix: another address guessing the same key is limited too', () => {
    const limiter = new SignInLimiter(3, 60_000, () => 0);
    for (let i = 0; i < 3; i++)
      limiter.fail(SignInLimiter.subjects(`198.51.100.${i}`, 'thoth_live_ABCDE-same-key'));
    // Same prefix (the first KEY_PREFIX_LENGTH characters), a fresh address: refused.
    expect(
      limiter.retryAfterSeconds(SignInLimiter.subjects('192.0.2.1', 'thoth_live_ABCDE-other-tail')),
    ).toBe(60);
    // A fresh address and another prefix: allowed.
    expect(limiter.retryAfterSeconds(SignInLimiter.subjects('192.0.2.1', 'thoth_live_ZZZZZ'))).toBe(0);
    // One address guessing many keys is limited by its address.
    for (let i = 0; i < 3; i++) limiter.fail(SignInLimiter.subjects('192.0.2.9', `thoth_live_${i}xxxxxxxx`));
    expect(limiter.retryAfterSeconds(SignInLimiter.subjects('192.0.2.9', 'thoth_live_fresh-prefix'))).toBe(
      60,
    );
  });

  it('keeps no key material: subjects hold a hash of the prefix only', () => {
    const [ip, key] = SignInLimiter.subjects('192.0.2.1', 'thoth_live_SECRETPART-and-more');
    expect(ip).toBe('ip:192.0.2.1');
    expect(key).not.toContain('SECRET');
    expect(key).toBe(
      SignInLimiter.subjects('x', 'thoth_live_SECRETPART-and-more'.slice(0, KEY_PREFIX_LENGTH))[1],
    );
  });
});
