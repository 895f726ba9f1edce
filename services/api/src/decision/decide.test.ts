import { describe, expect, it } from 'vitest';
import { decideToolCall, SCOPE_VIOLATION_POINTS } from './decide.ts';
import { type CompiledPolicy, compilePolicy, DEFAULT_POLICY } from './policy.ts';
import type { Directive, EnforcementMode, SessionRisk, ToolCall } from './types.ts';

const T0 = Date.UTC(2025, 5, 2, 12, 0, 0);

const call = (overrides: Partial<ToolCall> = {}): ToolCall => ({
  tenantId: 't1',
  agentId: 'agent-1',
  toolName: 'search',
  sessionId: 's1',
  userId: 'alice',
  sessionToolCalls: [],
  approvedScope: ['search', 'pay', 'export'],
  mode: 'progressive',
  environment: 'prod',
  toolArgs: { q: 'weather' },
  nowMs: T0,
  ...overrides,
});

const directive = (overrides: Partial<Directive> = {}): Directive => ({
  tenantId: 't1',
  agentId: 'agent-1',
  level: 'warn',
  score: 35,
  reason: 'tool call rate is 9x the baseline',
  reasonCode: 'behavioral_anomaly',
  findingIds: ['f-1'],
  contributions: [{ feature: 'rate_zscore', points: 35 }],
  signals: ['anomaly:rate_spike'],
  expiresAtMs: T0 + 60_000,
  ...overrides,
});

const rule = (id: string, effect: string, extra: Record<string, unknown> = {}) => ({
  id,
  condition: 'true',
  effect,
  reason: `${id} reason`,
  ...extra,
});

const policyOf = (...rules: Record<string, unknown>[]): CompiledPolicy => compilePolicy({ rules });

describe('decideToolCall: the mode table', () => {
  const modes: EnforcementMode[] = ['observe', 'progressive', 'step_up', 'block'];

  it.each(modes)('%s: an in-scope call with no risk is allowed', (mode) => {
    const outcome = decideToolCall(call({ mode }), DEFAULT_POLICY, undefined, []);
    expect(outcome).toMatchObject({
      decision: 'ALLOW',
      wouldBe: 'ALLOW',
      reasonCode: 'allowed',
      riskScore: 0,
    });
    expect(outcome.warning).toBeUndefined();
    expect(outcome.stepUpTimeoutSeconds).toBeUndefined();
  });

  it.each([
    ['observe', 'ALLOW', 'BLOCK'],
    ['progressive', 'BLOCK', 'BLOCK'],
    ['step_up', 'STEP_UP', 'STEP_UP'],
    ['block', 'BLOCK', 'BLOCK'],
  ] as const)('%s: an out-of-scope tool → %s (would be %s)', (mode, decision, wouldBe) => {
    const outcome = decideToolCall(call({ mode, toolName: 'delete_user' }), DEFAULT_POLICY, undefined, []);
    expect(outcome.decision).toBe(decision);
    expect(outcome.wouldBe).toBe(wouldBe);
    expect(outcome.reasonCode).toBe('policy_scope_violation');
    expect(outcome.reason).toContain("tool 'delete_user' is not in the approved scope [search, pay, export]");
    expect(outcome.riskScore).toBe(SCOPE_VIOLATION_POINTS);
    expect(outcome.scoreComponents.scope).toBe(SCOPE_VIOLATION_POINTS);
    expect(outcome.decisionEvidence.in_scope).toBe(false);
  });

  it('observe: says what it would have done in the reason', () => {
    const outcome = decideToolCall(
      call({ mode: 'observe', toolName: 'delete_user' }),
      DEFAULT_POLICY,
      undefined,
      [],
    );
    expect(outcome.reason).toMatch(/^observe mode, would BLOCK: tool 'delete_user'/);
  });

  it.each([
    ['observe', 'ALLOW', 'ALLOW', 'behavioral_anomaly', true],
    ['progressive', 'ALLOW', 'ALLOW', 'behavioral_anomaly', true],
    ['step_up', 'STEP_UP', 'STEP_UP', 'step_up_high_risk', false],
    ['block', 'BLOCK', 'BLOCK', 'behavioral_anomaly', false],
  ] as const)(
    '%s: an in-scope risky call (anomaly, 35 points) → %s',
    (mode, decision, wouldBe, code, warns) => {
      const outcome = decideToolCall(call({ mode }), DEFAULT_POLICY, undefined, [directive()]);
      expect(outcome.decision).toBe(decision);
      expect(outcome.wouldBe).toBe(wouldBe);
      expect(outcome.reasonCode).toBe(code);
      expect(outcome.warning !== undefined).toBe(warns);
      expect(outcome.riskScore).toBe(35);
    },
  );

  it('an empty approved scope restricts nothing', () => {
    const outcome = decideToolCall(
      call({ approvedScope: [], toolName: 'anything' }),
      DEFAULT_POLICY,
      undefined,
      [],
    );
    expect(outcome.decision).toBe('ALLOW');
    expect(outcome.decisionEvidence.in_scope).toBe(true);
  });

  it('step_up decisions always carry an integer timeout', () => {
    const outcome = decideToolCall(call({ mode: 'step_up', toolName: 'x' }), DEFAULT_POLICY, undefined, []);
    expect(outcome.stepUpTimeoutSeconds).toBe(900);
    expect(Number.isInteger(outcome.stepUpTimeoutSeconds)).toBe(true);
  });
});

describe('decideToolCall: policy rules', () => {
  const allEffects = policyOf(
    rule('flag', 'FLAG', { risk_points: 5 }),
    rule('modify', 'MODIFY', { modify: { redact: ['q'] } }),
    rule('step', 'STEP_UP', { step_up_timeout_seconds: 300 }),
    rule('defer', 'DEFER', { defer_timeout_seconds: 45, reason_code: 'needs_context' }),
    rule('block', 'BLOCK', { reason_code: 'forbidden_tool' }),
  );

  it('the strongest effect wins: BLOCK > DEFER > STEP_UP > MODIFY > FLAG; every match is reported', () => {
    const outcome = decideToolCall(call(), allEffects, undefined, []);
    expect(outcome.decision).toBe('BLOCK');
    expect(outcome.reason).toBe('block reason');
    expect(outcome.reasonCode).toBe('forbidden_tool');
    expect(outcome.matchedRuleIds).toEqual(['flag', 'modify', 'step', 'defer', 'block']);
    expect(outcome.modifiedToolArgs).toBeUndefined();
    expect(outcome.decisionEvidence.decided_by).toBe('rule');
  });

  it('DEFER beats STEP_UP and carries an integer timeout and reason', () => {
    const policy = policyOf(
      rule('step', 'STEP_UP'),
      rule('defer', 'DEFER', { defer_timeout_seconds: 45, reason_code: 'needs_context' }),
    );
    const outcome = decideToolCall(call(), policy, undefined, []);
    expect(outcome).toMatchObject({
      decision: 'DEFER',
      reasonCode: 'needs_context',
      deferReason: 'defer reason',
      deferTimeoutSeconds: 45,
    });
    expect(Number.isInteger(outcome.deferTimeoutSeconds)).toBe(true);
    expect(outcome.stepUpTimeoutSeconds).toBeUndefined();
  });

  it('a DEFER rule without a timeout defers for 60 s', () => {
    const outcome = decideToolCall(call(), policyOf(rule('d', 'DEFER')), undefined, []);
    expect(outcome.deferTimeoutSeconds).toBe(60);
  });

  it('STEP_UP beats MODIFY and uses the rule timeout', () => {
    const policy = policyOf(
      rule('modify', 'MODIFY', { modify: { redact: ['q'] } }),
      rule('step', 'STEP_UP', { step_up_timeout_seconds: 300 }),
    );
    const outcome = decideToolCall(call(), policy, undefined, []);
    expect(outcome).toMatchObject({
      decision: 'STEP_UP',
      reasonCode: 'policy_rule',
      stepUpTimeoutSeconds: 300,
    });
    expect(outcome.modifiedToolArgs).toBeUndefined();
  });

  it('MODIFY rewrites the arguments in the shape received, applying every matching MODIFY rule', () => {
    const policy = policyOf(
      rule('redact-card', 'MODIFY', { modify: { redact: ['card'] }, reason: 'card numbers are redacted' }),
      rule('force-dry-run', 'MODIFY', { modify: { set: { dry_run: true } }, reason: 'dry run only' }),
      rule('flag', 'FLAG', { risk_points: 1, condition: 'false' }),
    );
    const outcome = decideToolCall(
      call({ toolName: 'pay', toolArgs: { args: [{ card: '4111', amount: 3 }] } }),
      policy,
      undefined,
      [],
    );
    expect(outcome.decision).toBe('MODIFY');
    expect(outcome.modifiedToolArgs).toEqual({ args: [{ card: '[REDACTED]', amount: 3, dry_run: true }] });
    expect(outcome.modificationReason).toBe('card numbers are redacted; dry run only');
    expect(outcome.matchedRuleIds).toEqual(['redact-card', 'force-dry-run']);
  });

  it('MODIFY survives only when nothing stronger applies (out of scope → BLOCK, unmodified)', () => {
    const policy = policyOf(rule('redact', 'MODIFY', { modify: { redact: ['q'] } }));
    const outcome = decideToolCall(call({ toolName: 'wipe' }), policy, undefined, []);
    expect(outcome.decision).toBe('BLOCK');
    expect(outcome.reasonCode).toBe('policy_scope_violation');
    expect(outcome.modifiedToolArgs).toBeUndefined();
  });

  it('rule effects apply in every mode but observe', () => {
    const policy = policyOf(rule('block', 'BLOCK'));
    expect(decideToolCall(call({ mode: 'step_up' }), policy, undefined, []).decision).toBe('BLOCK');
    expect(decideToolCall(call({ mode: 'block' }), policy, undefined, []).decision).toBe('BLOCK');
    const observed = decideToolCall(call({ mode: 'observe' }), policy, undefined, []);
    expect(observed).toMatchObject({ decision: 'ALLOW', wouldBe: 'BLOCK', reasonCode: 'policy_rule' });
  });

  it('observe mode records a would-be MODIFY with its arguments but answers ALLOW', () => {
    const policy = policyOf(rule('redact', 'MODIFY', { modify: { redact: ['q'] } }));
    const outcome = decideToolCall(call({ mode: 'observe' }), policy, undefined, []);
    expect(outcome).toMatchObject({
      decision: 'ALLOW',
      wouldBe: 'MODIFY',
      modifiedToolArgs: { q: '[REDACTED]' },
    });
  });

  it('FLAG only adds risk: its points count and its id is reported, the call stays allowed below warn', () => {
    const policy = policyOf(rule('big', 'FLAG', { risk_points: 12, condition: 'args.amount > 1000' }));
    const outcome = decideToolCall(
      call({ toolName: 'pay', toolArgs: { amount: 5000 } }),
      policy,
      undefined,
      [],
    );
    expect(outcome).toMatchObject({ decision: 'ALLOW', riskScore: 12, matchedRuleIds: ['big'] });
    expect(outcome.reason).toBe("tool 'pay' allowed (flagged by big)");
    expect(outcome.topContributors).toEqual([{ feature: 'rule:big', contribution_points: 12 }]);
  });

  it('risk points from rules escalate per mode (block mode blocks a MODIFY that carries risk)', () => {
    const policy = policyOf(
      rule('redact', 'MODIFY', { modify: { redact: ['q'] }, risk_points: 5, reason_code: 'pii' }),
    );
    const outcome = decideToolCall(call({ mode: 'block' }), policy, undefined, []);
    expect(outcome).toMatchObject({ decision: 'BLOCK', reasonCode: 'pii' });
    expect(outcome.modifiedToolArgs).toBeUndefined();
  });

  it('a rule restricted to other tools is skipped before its condition runs', () => {
    const policy = policyOf(rule('pay-only', 'BLOCK', { tools: ['pay'], condition: 'args.nope == 1' }));
    const outcome = decideToolCall(call(), policy, undefined, []);
    expect(outcome.decision).toBe('ALLOW');
    expect(outcome.decisionEvidence.rule_errors).toEqual([]);
    expect(
      decideToolCall(call({ toolName: 'pay', toolArgs: { nope: 1 } }), policy, undefined, []).decision,
    ).toBe('BLOCK');
  });

  it('a condition that fails at run time does not match, is reported, and the other rules still run', () => {
    const policy = policyOf(
      rule('needs-amount', 'BLOCK', { condition: 'args.amount > 10' }),
      rule('flag', 'FLAG', { risk_points: 3 }),
    );
    const outcome = decideToolCall(call(), policy, undefined, []);
    expect(outcome.decision).toBe('ALLOW');
    expect(outcome.matchedRuleIds).toEqual(['flag']);
    expect(outcome.decisionEvidence.rule_errors).toEqual([
      { rule_id: 'needs-amount', error: expect.stringContaining('amount') },
    ]);
  });

  it('rules see the args, the session and the time', () => {
    const policy = policyOf(
      rule('night', 'BLOCK', { condition: 'time.hour >= 22 || time.hour < 6' }),
      rule('repeat', 'STEP_UP', { condition: 'session.blocked >= 2' }),
    );
    expect(decideToolCall(call({ nowMs: Date.UTC(2025, 0, 1, 23) }), policy, undefined, []).decision).toBe(
      'BLOCK',
    );
    const noisy: SessionRisk = { risk: 0, blocked: 2, calls: 9, updatedAtMs: T0 };
    expect(decideToolCall(call(), policy, noisy, []).decision).toBe('STEP_UP');
    expect(decideToolCall(call(), policy, undefined, []).decision).toBe('ALLOW');
  });
});

describe('decideToolCall: progressive escalation over a session', () => {
  // 35 points per export; half-life 600 s; thresholds 30 / 60 / 85.
  const policy = policyOf(
    rule('bulk-export', 'FLAG', { risk_points: 35, tools: ['export'], reason_code: 'bulk_export' }),
  );

  it('warns, then steps up, then blocks, then decays back after idling', () => {
    let session: SessionRisk | undefined;
    const step = (secondsAfterStart: number, toolName = 'export') => {
      const outcome = decideToolCall(
        call({ toolName, nowMs: T0 + secondsAfterStart * 1000 }),
        policy,
        session,
        [],
      );
      session = outcome.session;
      return outcome;
    };

    const first = step(0);
    expect(first).toMatchObject({ decision: 'ALLOW', reasonCode: 'risk_warning', riskScore: 35 });
    expect(first.warning).toMatch(/session risk 35 reached the warn threshold 30/);

    const second = step(10); // 35 × 0.5^(10/600) + 35 ≈ 69.6
    expect(second).toMatchObject({ decision: 'STEP_UP', reasonCode: 'step_up_high_risk', riskScore: 70 });
    expect(second.session.risk).toBeCloseTo(35 * 0.5 ** (10 / 600) + 35, 6);
    expect(second.stepUpTimeoutSeconds).toBe(900);

    const third = step(20); // ≈ 103.8, capped at 100
    expect(third).toMatchObject({ decision: 'BLOCK', reasonCode: 'bulk_export', riskScore: 100 });
    expect(third.session).toMatchObject({ risk: 100, blocked: 1, calls: 3 });

    // A clean call carries the session's risk in its score but is not escalated.
    const clean = step(30, 'search');
    expect(clean.decision).toBe('ALLOW');
    expect(clean.riskScore).toBe(Math.round(100 * 0.5 ** (10 / 600)));
    expect(clean.scoreComponents).toMatchObject({ scope: 0, rules: 0, directives: 0 });

    // An hour idle = 6 half-lives: the next export only warns again.
    const later = step(30 + 3600);
    const carried = clean.session.risk * 0.5 ** 6;
    expect(later.decision).toBe('ALLOW');
    expect(later.reasonCode).toBe('risk_warning');
    expect(later.session.risk).toBeCloseTo(carried + 35, 6);
    expect(later.scoreComponents.session_carry).toBeCloseTo(carried, 2);
    expect(later.session).toMatchObject({ blocked: 1, calls: 5, updatedAtMs: T0 + 3630_000 });
  });

  it('observe mode records the same escalation as would-be decisions and never counts a block', () => {
    let session: SessionRisk | undefined;
    const wouldBes: string[] = [];
    for (const seconds of [0, 10, 20]) {
      const outcome = decideToolCall(
        call({ mode: 'observe', toolName: 'export', nowMs: T0 + seconds * 1000 }),
        policy,
        session,
        [],
      );
      expect(outcome.decision).toBe('ALLOW');
      wouldBes.push(outcome.wouldBe);
      session = outcome.session;
    }
    expect(wouldBes).toEqual(['ALLOW', 'STEP_UP', 'BLOCK']);
    expect(session).toMatchObject({ blocked: 0, calls: 3 });
  });

  it('decays stored risk by half per half-life and never grows it when the clock goes backwards', () => {
    const stored: SessionRisk = { risk: 80, blocked: 0, calls: 1, updatedAtMs: T0 };
    const afterHalfLife = decideToolCall(call({ nowMs: T0 + 600_000 }), DEFAULT_POLICY, stored, []);
    expect(afterHalfLife.session.risk).toBeCloseTo(40, 9);
    expect(afterHalfLife.decisionEvidence).toMatchObject({
      session_risk_before: 80,
      session_risk_decayed: 40,
    });
    const backwards = decideToolCall(call({ nowMs: T0 - 600_000 }), DEFAULT_POLICY, stored, []);
    expect(backwards.session.risk).toBe(80);
  });
});

describe('decideToolCall: directives', () => {
  it('a block directive blocks in progressive mode and asks a human in step_up mode', () => {
    const block = directive({ level: 'block', score: 10, reasonCode: 'rate_anomaly' });
    expect(decideToolCall(call(), DEFAULT_POLICY, undefined, [block])).toMatchObject({
      decision: 'BLOCK',
      reasonCode: 'rate_anomaly',
      reason: block.reason,
    });
    expect(decideToolCall(call({ mode: 'step_up' }), DEFAULT_POLICY, undefined, [block]).decision).toBe(
      'STEP_UP',
    );
    expect(decideToolCall(call({ mode: 'observe' }), DEFAULT_POLICY, undefined, [block])).toMatchObject({
      decision: 'ALLOW',
      wouldBe: 'BLOCK',
    });
  });

  it('a step_up directive is a floor even without risk points', () => {
    const outcome = decideToolCall(call(), DEFAULT_POLICY, undefined, [
      directive({ level: 'step_up', score: 0 }),
    ]);
    expect(outcome).toMatchObject({
      decision: 'STEP_UP',
      reasonCode: 'behavioral_anomaly',
      stepUpTimeoutSeconds: 900,
    });
  });

  it('a warn directive allows with a warning even below the warn threshold', () => {
    const outcome = decideToolCall(call(), DEFAULT_POLICY, undefined, [directive({ score: 5 })]);
    expect(outcome).toMatchObject({ decision: 'ALLOW', reasonCode: 'behavioral_anomaly', riskScore: 5 });
    expect(outcome.warning).toBe('tool call rate is 9x the baseline');
  });

  it('ignores expired directives and those of another tenant, agent, session or tool', () => {
    const ignored = [
      directive({ level: 'block', expiresAtMs: T0 }),
      directive({ level: 'block', tenantId: 't2' }),
      directive({ level: 'block', agentId: 'agent-2' }),
      directive({ level: 'block', sessionId: 'other-session' }),
      directive({ level: 'block', toolName: 'pay' }),
    ];
    const outcome = decideToolCall(call(), DEFAULT_POLICY, undefined, ignored);
    expect(outcome).toMatchObject({ decision: 'ALLOW', riskScore: 0, modelSignals: [] });
    const scoped = directive({ level: 'block', sessionId: 's1', toolName: 'search' });
    expect(decideToolCall(call(), DEFAULT_POLICY, undefined, [scoped]).decision).toBe('BLOCK');
  });

  it('adds scores, reports signals, findings, levels and contributors', () => {
    const directives = [
      directive({
        score: 20,
        findingIds: ['f-1'],
        signals: ['anomaly:rate_spike'],
        contributions: [{ feature: 'rate_zscore', points: 20 }],
      }),
      directive({
        level: 'step_up',
        score: 15,
        sessionId: 's1',
        reasonCode: 'sequence_anomaly',
        reason: 'unusual tool sequence',
        findingIds: ['f-2', 'f-1'],
        signals: ['anomaly:rate_spike', 'anomaly:new_sequence'],
        contributions: [
          { feature: 'sequence_novelty', points: 10 },
          { feature: 'rate_zscore', points: 5 },
        ],
      }),
    ];
    const outcome = decideToolCall(
      call(),
      DEFAULT_POLICY,
      { risk: 6, blocked: 0, calls: 1, updatedAtMs: T0 },
      directives,
    );
    expect(outcome).toMatchObject({
      decision: 'STEP_UP',
      reasonCode: 'sequence_anomaly',
      reason: 'unusual tool sequence',
    });
    expect(outcome.modelSignals).toEqual(['anomaly:rate_spike', 'anomaly:new_sequence']);
    expect(outcome.decisionEvidence).toMatchObject({
      finding_ids: ['f-1', 'f-2'],
      directive_levels: ['warn', 'step_up'],
      call_risk: 35,
      session_risk_after: 41,
    });
    expect(outcome.scoreComponents).toEqual({ scope: 0, rules: 0, directives: 35, session_carry: 6 });
    expect(outcome.topContributors).toEqual([
      { feature: 'rate_zscore', contribution_points: 25 },
      { feature: 'sequence_novelty', contribution_points: 10 },
      { feature: 'session_carry', contribution_points: 6 },
    ]);
  });

  it('the strongest source wins across scope, rules and directives', () => {
    const policy = policyOf(rule('defer', 'DEFER'));
    const outcome = decideToolCall(call(), policy, undefined, [directive({ level: 'block', score: 0 })]);
    expect(outcome.decision).toBe('BLOCK');
    expect(outcome.decisionEvidence.decided_by).toBe('directive');
    const stepUp = decideToolCall(call(), policy, undefined, [directive({ level: 'step_up', score: 0 })]);
    expect(stepUp.decision).toBe('DEFER');
  });
});

describe('decideToolCall: bounds and bookkeeping', () => {
  it('keeps riskScore an integer in 0..100 whatever the inputs', () => {
    const huge = directive({ score: 500, level: 'warn' });
    const outcome = decideToolCall(
      call({ toolName: 'wipe' }),
      policyOf(rule('f', 'FLAG', { risk_points: 100 })),
      { risk: 99.7, blocked: 0, calls: 0, updatedAtMs: T0 },
      [huge, huge],
    );
    expect(outcome.riskScore).toBe(100);
    expect(outcome.session.risk).toBe(100);
    const fractional = decideToolCall(
      call(),
      policyOf(rule('f', 'FLAG', { risk_points: 2.4 })),
      undefined,
      [],
    );
    expect(fractional.riskScore).toBe(2);
    expect(Number.isInteger(fractional.riskScore)).toBe(true);
  });

  it('counts every call and only BLOCK answers as blocked', () => {
    const start: SessionRisk = { risk: 0, blocked: 3, calls: 10, updatedAtMs: T0 };
    expect(decideToolCall(call(), DEFAULT_POLICY, start, []).session).toMatchObject({
      calls: 11,
      blocked: 3,
    });
    expect(decideToolCall(call({ toolName: 'x' }), DEFAULT_POLICY, start, []).session).toMatchObject({
      calls: 11,
      blocked: 4,
    });
    expect(
      decideToolCall(call({ toolName: 'x', mode: 'step_up' }), DEFAULT_POLICY, start, []).session.blocked,
    ).toBe(3);
  });

  it('classifies the action from the tool name', () => {
    expect(
      decideToolCall(call({ toolName: 'search' }), DEFAULT_POLICY, undefined, []).actionClassification,
    ).toBe('read');
    expect(
      decideToolCall(call({ toolName: 'pay' }), DEFAULT_POLICY, undefined, []).actionClassification,
    ).toBe('write');
  });

  it('does not throw on odd arguments or failing conditions', () => {
    const policy = policyOf(rule('odd', 'BLOCK', { condition: 'args.arg0.x == 1' }));
    for (const toolArgs of [
      undefined,
      null,
      42,
      'text',
      [1, 2],
      { args: 'x' },
      { nested: { deep: [1, { a: 1.5 }] } },
    ]) {
      expect(() => decideToolCall(call({ toolArgs }), policy, undefined, [])).not.toThrow();
    }
  });

  it('does not mutate its inputs', () => {
    const input = call({ toolArgs: { q: 'x', card: '4111' } });
    const session: SessionRisk = { risk: 10, blocked: 0, calls: 1, updatedAtMs: T0 };
    const directives = [directive()];
    const snapshot = structuredClone({ input, session, directives });
    decideToolCall(
      input,
      policyOf(rule('r', 'MODIFY', { modify: { redact: ['card'] } })),
      session,
      directives,
    );
    expect({ input, session, directives }).toEqual(snapshot);
  });
});
