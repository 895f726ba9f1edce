import { describe, expect, it } from 'vitest';
import { addToSketch, emptySketch, quantile } from './quantile-sketch.ts';

describe('quantile sketch', () => {
  it('knows quantiles within 2% over a wide range', () => {
    const sketch = emptySketch();
    for (let v = 1; v <= 10_000; v++) addToSketch(sketch, v);
    for (const q of [0.01, 0.5, 0.9, 0.99]) {
      const exact = q * 10_000;
      expect(Math.abs(quantile(sketch, q) - exact) / exact).toBeLessThan(0.02);
    }
    expect(quantile(sketch, 1)).toBe(10_000);
    expect(Object.keys(sketch.positive).length).toBeLessThan(250);
  });

  it('orders negative values, zeros and positive values; clamps to the exact extremes', () => {
    const sketch = emptySketch();
    for (const v of [-100, -10, 0, 0, 5, 50]) addToSketch(sketch, v);
    expect(quantile(sketch, 0)).toBe(-100);
    expect(quantile(sketch, 0.3)).toBeCloseTo(-10, 0);
    expect(quantile(sketch, 0.5)).toBe(0);
    expect(quantile(sketch, 1)).toBe(50);
    expect(sketch).toMatchObject({ count: 6, min: -100, max: 50, zeros: 2 });
  });

  it('is empty until a finite value arrives, and survives a JSON round trip', () => {
    const sketch = emptySketch();
    addToSketch(sketch, Number.NaN);
    addToSketch(sketch, Number.POSITIVE_INFINITY);
    expect(Number.isNaN(quantile(sketch, 0.5))).toBe(true);
    addToSketch(sketch, 42);
    const copy = JSON.parse(JSON.stringify(sketch));
    expect(quantile(copy, 0.99)).toBe(42);
  });
});
