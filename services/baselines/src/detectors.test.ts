import { describe, expect, it } from 'vitest';
import {
  blockedBurst,
  firstSeenTool,
  novelArgKey,
  novelArgValue,
  numericOutlier,
  OUTLIER_MIN_RATIO,
  offHours,
  rareTool,
  rateSpike,
  unusualTransition,
} from './detectors.ts';
import { addToSketch, emptySketch, quantile } from './quantile-sketch.ts';

const amounts = (from: number, to: number, n: number) => {
  const sketch = emptySketch();
  for (let i = 0; i < n; i++) addToSketch(sketch, from + ((to - from) * i) / (n - 1));
  return sketch;
};

describe('detectors', () => {
  it('first_seen_tool: a new tool once the agent has enough history', () => {
    expect(firstSeenTool('wipe', 0, 100, 30)).toMatchObject({ detector: 'first_seen_tool', score: 25 });
    expect(firstSeenTool('wipe', 0, 29, 30)).toBeUndefined();
    expect(firstSeenTool('wipe', 1, 100, 30)).toBeUndefined();
  });

  it('rare_tool: a known tool under 1% of calls', () => {
    const found = rareTool('export', 2, 500, 30);
    expect(found).toMatchObject({ score: 10, subject: 'export' });
    expect(found?.explanation).toContain('0.40%');
    expect(rareTool('export', 5, 500, 30)).toBeUndefined();
    expect(rareTool('export', 0, 500, 30)).toBeUndefined();
  });

  it('rate_spike: 3× and 4 deviations over the usual rate, scored by the ratio', () => {
    const usual = { mean: 20, variance: 16, windows: 30 };
    expect(rateSpike(59, usual, 1)).toBeUndefined();
    expect(rateSpike(60, usual, 1)).toMatchObject({ detector: 'rate_spike', score: 24 });
    expect(rateSpike(200, usual, 1)).toMatchObject({ score: 50 });
    expect(rateSpike(2_000, usual, 1)?.score).toBe(60);
    // Too few windows learned, or a noisy baseline where 3× is within 4 deviations.
    expect(rateSpike(200, { ...usual, windows: 4 }, 1)).toBeUndefined();
    expect(rateSpike(60, { mean: 20, variance: 200, windows: 30 }, 1)).toBeUndefined();
    // A tiny mean: the deviation floor of 1 (and √mean) keeps 3 calls from being a spike.
    expect(rateSpike(3, { mean: 0.5, variance: 0, windows: 30 }, 1)).toBeUndefined();
  });

  it('numeric_outlier: ≥ 3× the p99, scored by the ratio', () => {
    const sketch = amounts(10, 200, 300);
    const found = numericOutlier('submit_payment', 'amount', 50_000, sketch, 30);
    expect(found).toMatchObject({ detector: 'numeric_outlier', subject: 'submit_payment.amount', score: 56 });
    expect(found?.explanation).toMatch(/amount = 50000 is \d+(\.\d+)?× this agent's p99/);
    expect(numericOutlier('submit_payment', 'amount', 500, sketch, 30)).toBeUndefined();
    expect(numericOutlier('submit_payment', 'amount', 600, sketch, 30)?.score).toBe(27);
    expect(numericOutlier('submit_payment', 'amount', 1e12, sketch, 30)?.score).toBe(70);
    expect(numericOutlier('submit_payment', 'amount', 50_000, amounts(10, 200, 10), 30)).toBeUndefined();
    expect(numericOutlier('submit_payment', 'amount', 50_000, undefined, 30)).toBeUndefined();
  });

  it('numeric_outlier: a value under 3× the smallest seen is decided as the p99 decides it', () => {
    // Sketches of one value, of a range, with zeros and negatives; values around each bound.
    const sketches = [amounts(10, 10, 50), amounts(10, 200, 300), amounts(0, 100, 50), amounts(-50, 50, 60)];
    for (const sketch of sketches) {
      const p99 = quantile(sketch, 0.99);
      for (const value of [-100, 0, 1, 9, 10, 29.9, 30, 31, 100, 599, 600, 601, 5_000])
        expect(numericOutlier('pay', 'amount', value, sketch, 30) !== undefined, `${value}`).toBe(
          p99 > 0 && value >= OUTLIER_MIN_RATIO * p99,
        );
    }
  });

  it('novel_arg_key and novel_arg_value', () => {
    expect(novelArgKey('pay', 'memo', { amount: 40, payee: 40 }, 40, 30)).toMatchObject({
      score: 15,
      subject: 'pay.memo',
    });
    expect(novelArgKey('pay', 'amount', { amount: 40 }, 40, 30)).toBeUndefined();
    expect(novelArgKey('pay', 'memo', { amount: 10 }, 10, 30)).toBeUndefined();
    const currency = { values: { EUR: 30, USD: 10 }, overflow: false };
    expect(novelArgValue('pay', 'currency', 'XMR', currency, 30)).toMatchObject({ score: 15 });
    expect(novelArgValue('pay', 'currency', 'EUR', currency, 30)).toBeUndefined();
    expect(novelArgValue('pay', 'memo', 'x', { values: {}, overflow: true }, 30)).toBeUndefined();
  });

  it('unusual_transition: a step under 1% of what follows the previous tool', () => {
    expect(unusualTransition('search', 'pay', { read: 200, pay: 1 }, 30)).toMatchObject({ score: 10 });
    expect(unusualTransition('search', 'pay', { read: 100, pay: 5 }, 30)).toBeUndefined();
    expect(unusualTransition('search', 'pay', { read: 10 }, 30)).toBeUndefined();
  });

  it('off_hours: an hour that, with its neighbours, holds under 0.5% of calls', () => {
    const hours = Array.from({ length: 24 }, (_, h) => (h >= 9 && h < 18 ? 100 : 0));
    expect(offHours(3, hours, 900, 30, 'UTC')).toMatchObject({ subject: 'hour:3', score: 15 });
    // The edge of the working day is not off hours.
    expect(offHours(18, hours, 900, 30, 'UTC')).toBeUndefined();
    expect(offHours(12, hours, 900, 30, 'UTC')).toBeUndefined();
    expect(offHours(3, hours, 10, 30, 'UTC')).toBeUndefined();
  });

  it('blocked_burst: 5 blocks within 60 s', () => {
    expect(blockedBurst([1, 2, 3, 4], 10)).toBeUndefined();
    expect(blockedBurst([1, 2, 3, 4, 5], 10)).toMatchObject({ score: 30 });
    expect(blockedBurst([1, 2, 3, 4, 70_000], 70_001)).toBeUndefined();
  });
});
