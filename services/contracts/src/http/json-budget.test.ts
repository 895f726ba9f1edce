import { describe, expect, it } from 'vitest';
import { FREE_JSON_BUDGET, jsonBudgetExceeded } from './json-budget.ts';

const small = { maxValues: 5, maxArrayLength: 3, maxStringLength: 10, maxBytes: 200 };

describe('jsonBudgetExceeded', () => {
  it('lets ordinary values through', () => {
    expect(
      jsonBudgetExceeded({ args: ['quarterly report'], kwargs: { limit: 10 } }, FREE_JSON_BUDGET),
    ).toBeUndefined();
    expect(jsonBudgetExceeded(null, small)).toBeUndefined();
    expect(jsonBudgetExceeded({ a: [1, 2, 3], b: 'short' }, small)).toBeUndefined();
  });

  it('names the limit a value exceeds, at any depth', () => {
    expect(jsonBudgetExceeded({ a: { b: [1, 2, 3, 4] } }, small)).toBe(
      'an array of 4 items is over the limit of 3',
    );
    expect(jsonBudgetExceeded({ a: { b: 'x'.repeat(11) } }, small)).toBe(
      'a string of 11 characters is over the limit of 10',
    );
    expect(jsonBudgetExceeded({ [`k${'x'.repeat(20)}`]: 1 }, small)).toMatch(/a key of 21 characters/);
    expect(jsonBudgetExceeded({ a: 1, b: 2, c: [1, 2, 3] }, small)).toBe(
      'more than 5 values (object members and array items together)',
    );
    expect(jsonBudgetExceeded(['aaaaaaaaa', 'aaaaaaaaa', 'aaaaaaaaa'], { ...small, maxBytes: 20 })).toMatch(
      /bytes of JSON, over the limit of 20/,
    );
  });

  it('stops at the first excess instead of walking a huge value', () => {
    const huge = Array.from({ length: 1_000_000 }, (_, i) => i);
    const started = performance.now();
    expect(jsonBudgetExceeded({ huge }, FREE_JSON_BUDGET)).toMatch(/array of 1000000 items/);
    // A walk of the whole list takes several times longer; a busy machine may add tens of ms to either.
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('non-finite numbers', () => {
  it('refuses Infinity and NaN, which no canonical JSON can write back', () => {
    const budget = { maxValues: 10, maxArrayLength: 10, maxStringLength: 10, maxBytes: 1_000 };
    expect(jsonBudgetExceeded({ n: Number.POSITIVE_INFINITY }, budget)).toMatch(/beyond the range/);
    expect(jsonBudgetExceeded([Number.NaN], budget)).toMatch(/beyond the range/);
    expect(jsonBudgetExceeded({ n: 1e308 }, budget)).toBeUndefined();
  });
});
