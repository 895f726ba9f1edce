import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ulid, urlSafeToken } from './ids.ts';

describe('ulid', () => {
  it('is 26 Crockford characters and sorts by time', () => {
    const a = ulid(1_700_000_000_000);
    const b = ulid(1_700_000_000_001);
    expect(a).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(a < b).toBe(true);
    expect(ulid(0).slice(0, 10)).toBe('0000000000');
  });
  it('is the same for the same time and entropy, as in every earlier version, for whole milliseconds (finding ids derive from it)', () => {
    const entropy = createHash('sha256').update('thoth').digest();
    expect(ulid(1_796_484_395_927, entropy)).toBe('01M93D0WWQ1WHG61WVE9W21GX1');
    expect(ulid(1_796_484_395_927, entropy)).toBe(ulid(1_796_484_395_927, entropy));
  });
  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => ulid(1)));
    expect(ids.size).toBe(10_000);
  });
});

describe('urlSafeToken', () => {
  it('is URL-safe and long enough to be unguessable', () => {
    const token = urlSafeToken();
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
  });
});
