import { describe, expect, it } from 'vitest';
import { buildCelActivation, CEL_VARIABLES } from './cel-activation.ts';
import { compileCondition } from './cel-condition.ts';
import type { ToolCall } from './types.ts';

// 2024-03-10T23:30:00Z, a Sunday.
const SUNDAY_2330_UTC = Date.UTC(2024, 2, 10, 23, 30, 0);

const call = (overrides: Partial<ToolCall> = {}): ToolCall => ({
  tenantId: 't1',
  agentId: 'agent-7',
  toolName: 'pay',
  sessionId: 's1',
  userId: 'alice',
  sessionToolCalls: ['search', 'pay'],
  approvedScope: [],
  mode: 'progressive',
  environment: 'prod',
  toolArgs: { amount: 1500 },
  nowMs: SUNDAY_2330_UTC,
  ...overrides,
});

function evaluate(condition: string, overrides: Partial<ToolCall> = {}) {
  return compileCondition(condition).evaluate(
    buildCelActivation(call(overrides), { risk: 10, blocked: 2, calls: 5, updatedAtMs: 0 }),
  );
}

describe('buildCelActivation', () => {
  it('binds exactly the declared variables', () => {
    expect(Object.keys(buildCelActivation(call(), undefined)).sort()).toEqual(
      Object.keys(CEL_VARIABLES).sort(),
    );
  });

  it('exposes tool, agent, user, environment, session and UTC time', () => {
    expect(evaluate('tool == "pay" && agent == "agent-7" && user == "alice" && environment == "prod"')).toBe(
      true,
    );
    expect(evaluate('session.count == 5 && session.blocked == 2 && session.calls == ["search", "pay"]')).toBe(
      true,
    );
    expect(evaluate('time.hour == 23 && time.weekday == 0')).toBe(true);
    expect(evaluate(`time.epoch_seconds == ${SUNDAY_2330_UTC / 1000}`)).toBe(true);
  });

  it('computes the weekday for other days and before 1970 too', () => {
    expect(evaluate('time.weekday == 3 && time.hour == 0', { nowMs: Date.UTC(2025, 0, 1) })).toBe(true); // a Wednesday
    expect(evaluate('time.weekday == 3 && time.hour == 23', { nowMs: Date.UTC(1969, 11, 31, 23) })).toBe(
      true,
    );
  });

  it('binds missing optional strings as ""', () => {
    expect(evaluate('purpose == "" && data_classification == ""')).toBe(true);
    expect(
      evaluate('purpose == "billing" && data_classification == "pii"', {
        purpose: 'billing',
        dataClassification: 'pii',
      }),
    ).toBe(true);
  });

  it('starts a new session at zero', () => {
    const activation = buildCelActivation(call(), undefined);
    expect(compileCondition('session.count == 0 && session.blocked == 0').evaluate(activation)).toBe(true);
  });
});

describe('numbers in args', () => {
  it('compares whole and fractional JSON numbers with an int literal', () => {
    expect(evaluate('args.amount > 1000', { toolArgs: { amount: 1500 } })).toBe(true);
    expect(evaluate('args.amount > 1000', { toolArgs: { amount: 1500.5 } })).toBe(true);
    expect(evaluate('args.amount > 1000', { toolArgs: { amount: 999.5 } })).toBe(false);
    expect(evaluate('args.amount == 1500', { toolArgs: { amount: 1500 } })).toBe(true);
  });

  it('makes whole numbers CEL ints, so int arithmetic works on them', () => {
    expect(evaluate('type(args.n) == int && args.n * 2 == 6', { toolArgs: { n: 3 } })).toBe(true);
    expect(evaluate('type(args.n) == double', { toolArgs: { n: 3.5 } })).toBe(true);
    // Documented limit: CEL does not mix int and double in arithmetic.
    expect(evaluate('args.n * 2 > 1', { toolArgs: { n: 3.5 } })).toEqual({
      error: expect.stringMatching(/overload/),
    });
  });

  it('converts nested numbers and reads every args shape', () => {
    expect(evaluate('args.order.lines[0].qty == 2', { toolArgs: { order: { lines: [{ qty: 2 }] } } })).toBe(
      true,
    );
    expect(
      evaluate('args.arg0 == "x" && args.limit == 5', { toolArgs: { args: ['x'], kwargs: { limit: 5 } } }),
    ).toBe(true);
    expect(evaluate('args.amount > 1000', { toolArgs: { arg0: { amount: 2000 } } })).toBe(true);
  });
});

describe('compileCondition', () => {
  it('reports a missing key as an error, not as false', () => {
    expect(evaluate('args.missing > 1')).toEqual({ error: expect.stringMatching(/missing/) });
    expect(evaluate('has(args.missing) && args.missing > 1')).toBe(false);
  });

  it('reports a non-bool result as an error', () => {
    expect(evaluate('tool')).toEqual({ error: expect.stringMatching(/non-bool/) });
  });

  it('reports division by zero as an error', () => {
    expect(evaluate('1 / (session.count - 5) == 1')).toEqual({
      error: expect.stringMatching(/divide by zero/),
    });
  });
});
