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
