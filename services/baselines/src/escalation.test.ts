import { describe, expect, it } from 'vitest';
import { anomalyScore, directiveFor, type EscalationEntry, levelOf, withEntry } from './escalation.ts';

const S = { warn: 20, stepUp: 50, block: 80, halfLifeMs: 600_000 };
const T0 = 1_800_000_000_000;
const entry = (over: Partial<EscalationEntry> = {}): EscalationEntry => ({
  finding_id: 'f1',
  detector: 'numeric_outlier',
  subject: 'pay.amount',
  points: 56,
  at: T0,
  explanation: 'pay amount = 50000 is 250× this agent’s p99 of 200',
  ...over,
});

describe('escalation', () => {
  it('scores decay by half every half-life and cap at 100', () => {
    expect(anomalyScore([entry()], T0, S.halfLifeMs)).toBe(56);
    expect(anomalyScore([entry()], T0 + 600_000, S.halfLifeMs)).toBe(28);
    expect(anomalyScore([entry(), entry({ points: 70 })], T0, S.halfLifeMs)).toBe(100);
    expect([10, 20, 50, 80].map((score) => levelOf(score, S))).toEqual([
      undefined,
      'warn',
      'step_up',
      'block',
    ]);
  });

  it('a stronger finding of the same detector and subject replaces the weaker within the cooldown', () => {
    const first = entry({ detector: 'rate_spike', subject: 'calls', points: 24 });
    const stronger = entry({
      finding_id: 'f2',
      detector: 'rate_spike',
      subject: 'calls',
      points: 39,
      at: T0 + 1,
    });
    expect(withEntry([first], stronger, 60_000, S.halfLifeMs)).toEqual([stronger]);
    const later = { ...stronger, at: T0 + 61_000 };
    expect(withEntry([first], later, 60_000, S.halfLifeMs)).toHaveLength(2);
  });

  it('publishes the level with detectors in the reason, contributions and signals, lasting until it decays', () => {
    const entries = [
      entry(),
      entry({ finding_id: 'f2', detector: 'rate_spike', subject: 'calls', points: 24 }),
    ];
    const directive = directiveFor('acme', 'agent-1', entries, T0, S);
    expect(directive).toMatchObject({
      tenant_id: 'acme',
      agent_id: 'agent-1',
      session_id: null,
      tool_name: null,
      level: 'block',
      score: 8,
      reason_code: 'baseline_numeric_outlier',
      finding_ids: ['f1', 'f2'],
      contributions: [
        { feature: 'baseline:numeric_outlier', points: 56 },
        { feature: 'baseline:rate_spike', points: 24 },
      ],
      signals: ['anomaly:numeric_outlier', 'anomaly:rate_spike'],
      updated_at: T0,
    });
    expect(directive?.reason).toMatch(
      /score 80 reached the block level 80 \(numeric_outlier: .*; rate_spike: /,
    );
    // 80 → below 80 at once; step_up (56 alone) lasts half-life·log2(56/50).
    expect(directive?.expires_at).toBe(T0 + 1);
    const stepUp = directiveFor('acme', 'agent-1', [entry()], T0, S);
    expect(stepUp?.level).toBe('step_up');
    expect(stepUp!.expires_at - T0).toBe(Math.ceil(600_000 * Math.log2(56 / 50)) + 1);
    expect(directiveFor('acme', 'agent-1', [entry({ points: 10 })], T0, S)).toBeUndefined();
    expect(directiveFor('acme', 'agent-1', [entry()], T0 + 600_000, S)).toMatchObject({ level: 'warn' });
  });
});
