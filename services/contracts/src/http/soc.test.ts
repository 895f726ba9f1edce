import { describe, expect, it } from 'vitest';
import { feedFilterSchema, resolveTime } from './soc.ts';

describe('time filters', () => {
  it('accepts ISO 8601 and relative times, and names both forms when it refuses one', () => {
    const now = Date.UTC(2026, 5, 1, 12);
    expect(resolveTime('now', now)).toBe('2026-06-01T12:00:00.000Z');
    expect(resolveTime('-1h', now)).toBe('2026-06-01T11:00:00.000Z');
    expect(resolveTime('-7d', now)).toBe('2026-05-25T12:00:00.000Z');
    expect(resolveTime('-15m', now)).toBe('2026-06-01T11:45:00.000Z');
    expect(resolveTime('2026-01-31', now)).toBe('2026-01-31');
    expect(resolveTime('2026-01-31T08:00:00+01:00', now)).toBe('2026-01-31T08:00:00+01:00');
    expect(resolveTime('yesterday', now)).toBeUndefined();
    const refused = feedFilterSchema.safeParse({ from: 'yesterday' });
    expect(refused.success).toBe(false);
    expect(refused.error?.issues[0]?.message).toMatch(/ISO 8601.*2026-01-31T08:00:00Z.*relative.*-1h.*-7d/);
    expect(feedFilterSchema.parse({ from: '-1h' }).from).toMatch(/^\d{4}-\d\d-\d\dT/);
  });
});
