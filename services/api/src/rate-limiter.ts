/**
 * Token buckets: `ratePerSecond` sustained, bursts up to `burstFactor` × rate. In memory, per replica.
 * `take` asks several buckets at once (the key's and its tenant's): a request is allowed only if every bucket
 * has a token, and then takes one from each. It returns 0 when allowed, else the seconds to wait
 * (for Retry-After).
 */
export interface BucketRequest {
  key: string;
  ratePerSecond: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly burstFactor = 2,
    private readonly now: () => number = Date.now,
  ) {}

  take(...requests: BucketRequest[]): number {
    const now = this.now();
    let wait = 0;
    const refilled = requests.map(({ key, ratePerSecond }) => {
      const burst = ratePerSecond * this.burstFactor;
      const bucket = this.buckets.get(key) ?? { tokens: burst, at: now };
      bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1_000) * ratePerSecond);
      bucket.at = now;
      this.buckets.set(key, bucket);
      if (bucket.tokens < 1) wait = Math.max(wait, Math.ceil((1 - bucket.tokens) / ratePerSecond));
      return bucket;
    });
    if (wait > 0) return Math.max(1, wait);
    for (const bucket of refilled) bucket.tokens -= 1;
    return 0;
  }
}
