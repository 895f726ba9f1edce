import { createHash } from 'node:crypto';

/**
 * Failed console sign-ins per client IP and per key prefix, in a sliding window (default: 10 a minute). Past
 * the limit, sign-in answers 429 with Retry-After until the oldest failure leaves the window — before the
 * credential is even looked at, so a guesser learns nothing more. Only failures count: a team signing in from
 * one office address is not locked out by its own successful sign-ins. Per IP stops one client guessing keys;
 * per key prefix (the first characters of the presented credential, hashed) stops many addresses hammering one
 * known key. In this process's memory, bounded: each replica limits on its own (a balancer multiplies the
 * budget by the replica count, which still caps guessing far below any useful rate for a 256-bit key).
 */
export const SIGN_IN_FAILURES_PER_WINDOW = 10;
export const SIGN_IN_WINDOW_MS = 60_000;
/** "thoth_live_" and five characters of the random part: names a key without holding enough to use it. */
export const KEY_PREFIX_LENGTH = 16;
const MAX_TRACKED = 50_000;

export class SignInLimiter {
  /** Subject → failure times (ms), oldest first; at most `limit` kept. */
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = SIGN_IN_FAILURES_PER_WINDOW,
    private readonly windowMs = SIGN_IN_WINDOW_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** The subjects a sign-in attempt counts against. */
  static subjects(ip: string, credential: string): string[] {
    const prefix = createHash('sha256').update(credential.slice(0, KEY_PREFIX_LENGTH)).digest('base64url');
    return [`ip:${ip}`, `key:${prefix}`];
  }

  /** Seconds to wait before another attempt, or 0 when one is allowed now. */
  retryAfterSeconds(subjects: readonly string[]): number {
    const now = this.now();
    let waitMs = 0;
    for (const subject of subjects) {
      const times = this.live(subject, now);
      if (times && times.length >= this.limit)
        waitMs = Math.max(waitMs, (times[0] ?? now) + this.windowMs - now);
    }
    return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1_000)) : 0;
  }

  /** Records a failed attempt against every subject. */
  fail(subjects: readonly string[]): void {
    const now = this.now();
    for (const subject of subjects) {
      const times = this.live(subject, now) ?? [];
      times.push(now);
      if (times.length > this.limit) times.splice(0, times.length - this.limit);
      // Re-inserted: the map's order is least recently failed first, which is what goes when it is full.
      this.failures.delete(subject);
      if (this.failures.size >= MAX_TRACKED) {
        const oldest = this.failures.keys().next();
        if (!oldest.done) this.failures.delete(oldest.value);
      }
      this.failures.set(subject, times);
    }
  }

  get size(): number {
    return this.failures.size;
  }

  /** The subject's failures still inside the window (older ones dropped), or undefined. */
  private live(subject: string, now: number): number[] | undefined {
    const times = this.failures.get(subject);
    if (!times) return undefined;
    while (times.length > 0 && (times[0] ?? 0) <= now - this.windowMs) times.shift();
    if (times.length === 0) {
      this.failures.delete(subject);
      return undefined;
    }
    return times;
  }
}
