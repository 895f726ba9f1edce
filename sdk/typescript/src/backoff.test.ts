import { describe, expect, it } from 'vitest';
import { backoffDelayMs } from './backoff.ts';

describe('backoffDelayMs', () => {
  const options = { baseMs: 100, maxMs: 1_000 };
  it('doubles per attempt between half and the whole step, capped', () => {
    expect(backoffDelayMs(1, options, () => 0)).toBe(50);
    expect(backoffDelayMs(1, options, () => 1)).toBe(100);
    expect(backoffDelayMs(3, options, () => 1)).toBe(400);
    expect(backoffDelayMs(20, options, () => 1)).toBe(1_000);
    expect(backoffDelayMs(20, options, () => 0)).toBe(500);
  });
});
