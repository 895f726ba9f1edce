/**
 * What the enforce path's instrumentation costs per decision: one `decisionTally.record` (the only metrics call
 * on that path, routes/enforce-routes.ts), timed over 1e6 calls after a warm-up, against prom-client's own bound
 * children doing the same (a histogram observe and a counter inc). Run: `npx tsx --conditions=thoth-source scripts/bench-metrics.ts`.
 */

import { DecisionTally } from '@thoth/platform';
import { Counter, Histogram, Registry } from 'prom-client';

const N = 1_000_000;
const DECISIONS = ['ALLOW', 'ALLOW', 'ALLOW', 'BLOCK', 'STEP_UP'];
const REASONS = ['policy_allow', 'default_allow', 'rule_block', 'risk_step_up'];

function nsPerCall(label: string, call: (i: number) => void): number {
  for (let i = 0; i < N; i++) call(i); // warm-up: optimized before the timed run
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const started = process.hrtime.bigint();
    for (let i = 0; i < N; i++) call(i);
    runs.push(Number(process.hrtime.bigint() - started) / N);
  }
  const median = runs.sort((a, b) => a - b)[2]!;
  console.log(`${label}: ${median.toFixed(1)} ns per decision (median of 5 × 1e6)`);
  return median;
}

const tally = new DecisionTally();
nsPerCall('decisionTally.record', (i) =>
  tally.record(DECISIONS[i % 5]!, REASONS[i % 4]!, (i % 200) * 0.000_001),
);

const registry = new Registry();
const histogram = new Histogram({
  name: 'h',
  help: 'h',
  labelNames: ['decision'],
  buckets: [0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.0025, 0.005, 0.01],
  registers: [registry],
});
const counter = new Counter({
  name: 'c',
  help: 'c',
  labelNames: ['decision', 'reason_code'],
  registers: [registry],
});
const histogramChildren = DECISIONS.map((d) => histogram.labels(d));
const counterChildren = DECISIONS.map((d, i) => counter.labels(d, REASONS[i % 4]!));
nsPerCall('prom-client bound children (observe + inc)', (i) => {
  histogramChildren[i % 5]!.observe((i % 200) * 0.000_001);
  counterChildren[i % 5]!.inc();
});
