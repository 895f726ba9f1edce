import { describe, expect, it } from 'vitest';
import { backoffMs } from './retry.ts';

describe('backoffMs', () => {
  it('starts at the initial delay, doubles, and stops at the cap, even after very many attempts', () => {
    expect([0, 1, 2, 3].map((a) => backoffMs(a, 100, 5_000))).toEqual([100, 200, 400, 800]);
    expect(backoffMs(6, 100, 5_000)).toBe(5_000);
    expect(backoffMs(10_000, 250, 30_000)).toBe(30_000);
    expect(backoffMs(-1, 50, 1_000)).toBe(50);
    expect(backoffMs(40, 1_000, 2 ** 40)).toBe(2 ** 31 - 1);
  });
});
