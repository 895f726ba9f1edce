import { expect, it } from 'vitest';
import { OutageMonitor } from './outage-monitor.ts';

it('reports the start of an outage once and its end once', () => {
  const monitor = new OutageMonitor();
  expect(monitor.failed(0)).toBe(true);
  expect(monitor.failed(10)).toBe(false);
  expect(monitor.failed(20)).toBe(false);
  expect(monitor.recovered(1_000)).toEqual({ durationMs: 1_000, failedCalls: 3 });
  expect(monitor.recovered(2_000)).toBeUndefined();
  expect(monitor.failed(3_000)).toBe(true);
});
