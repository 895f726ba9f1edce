import { AggregatorRegistry, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import {
  DecisionTally,
  ENFORCE_LATENCY_BUCKETS,
  latencySamples,
  MAX_REASON_CODES,
  OTHER_REASON,
} from './decision-tally.ts';
import { metricsRegistry } from './metrics-registry.ts';
import { decisionsTotal, decisionTally } from './thoth-metrics.ts';

describe('DecisionTally', () => {
  it('counts each decision into cumulative buckets (le inclusive), with sum and count', () => {
    const tally = new DecisionTally();
    tally.record('ALLOW', 'policy_allow', 0.000_004);
    tally.record('ALLOW', 'policy_allow', 0.000_005); // on a bound: counted in it
    tally.record('ALLOW', 'default', 0.003);
    tally.record('BLOCK', 'rule_block', 7); // past every bound: +Inf only
    const samples = latencySamples(tally, 'x');
    const bucket = (decision: string, le: number | string) =>
      samples.find(
        (s) =>
          s.metricName === 'x_bucket' &&
          s.labels.decision === decision &&
          (s.labels as Record<string, unknown>).le === le,
      )?.value;
    expect(bucket('ALLOW', 0.000_005)).toBe(2);
    expect(bucket('ALLOW', 0.0025)).toBe(2);
    expect(bucket('ALLOW', 0.005)).toBe(3);
    expect(bucket('ALLOW', '+Inf')).toBe(3);
    expect(bucket('BLOCK', ENFORCE_LATENCY_BUCKETS[ENFORCE_LATENCY_BUCKETS.length - 1]!)).toBe(0);
    expect(bucket('BLOCK', '+Inf')).toBe(1);
    expect(samples.find((s) => s.metricName === 'x_sum' && s.labels.decision === 'BLOCK')?.value).toBe(7);
    expect(samples.find((s) => s.metricName === 'x_count' && s.labels.decision === 'ALLOW')?.value).toBe(3);
    const allow = [...tally.decisions()].find((c) => c.decision === 'ALLOW')!;
    expect(Object.fromEntries([...allow.reasons].map(([code, r]) => [code, r.count]))).toEqual({
      policy_allow: 2,
      default: 1,
    });
  });

  it('counts at most MAX_REASON_CODES reason codes per decision; later new ones as "other"', () => {
    const tally = new DecisionTally();
    for (let i = 0; i < MAX_REASON_CODES + 50; i++) tally.record('BLOCK', `policy_code_${i}`, 0.000_01);
    tally.record('BLOCK', 'policy_code_0', 0.000_01);
    const block = [...tally.decisions()].find((c) => c.decision === 'BLOCK')!;
    expect(block.reasons.size).toBe(MAX_REASON_CODES + 1);
    expect(block.reasons.get(OTHER_REASON)?.count).toBe(50);
    expect(block.reasons.get('policy_code_0')?.count).toBe(2);
    expect(block.count).toBe(MAX_REASON_CODES + 51);
  });

  it('renders as Prometheus text and survives a trip through a thread (JSON, aggregate)', async () => {
    decisionTally.record('STEP_UP', 'tally_test', 0.000_02);
    decisionTally.record('STEP_UP', 'tally_test', 0.000_02);
    const text = await metricsRegistry.metrics();
    expect(text).toContain('# TYPE thoth_enforce_latency_seconds histogram');
    expect(text).toMatch(/thoth_enforce_latency_seconds_bucket\{decision="STEP_UP",le="0\.000025"\} 2\n/);
    expect(text).toMatch(/thoth_enforce_latency_seconds_count\{decision="STEP_UP"\} 2\n/);
    expect(text).toContain('thoth_decisions_total{decision="STEP_UP",reason_code="tally_test"} 2');
    // What the consumers' thread sends, merged with an empty registry: the same samples come out.
    const json = structuredClone(await metricsRegistry.getMetricsAsJSON());
    const merged = await AggregatorRegistry.aggregate([
      json,
      await new Registry().getMetricsAsJSON(),
    ]).metrics();
    expect(merged).toMatch(/thoth_enforce_latency_seconds_bucket\{decision="STEP_UP",le="0\.000025"\} 2\n/);
    expect(merged).toContain('thoth_decisions_total{decision="STEP_UP",reason_code="tally_test"} 2');
    expect((await decisionsTotal.get()).values.length).toBeGreaterThan(0);
  });
});
