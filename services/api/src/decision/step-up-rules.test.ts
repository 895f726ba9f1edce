import { describe, expect, it } from 'vitest';
import { compilePolicy, PolicyError, stepUpRules } from './policy.ts';

describe('approval rules of a STEP_UP (policy step_up defaults, a rule’s own)', () => {
  const policy = compilePolicy({
    step_up: { timeout_seconds: 600, approvers: ['soc'], approvals_required: 1 },
    rules: [
      {
        id: 'large-wire',
        condition: 'args.amount > 10000',
        effect: 'STEP_UP',
        reason: 'large wire',
        approvers: ['payments-approvers'],
        approvals_required: 2,
        step_up_timeout_seconds: 1200,
      },
      {
        id: 'export',
        condition: 'true',
        effect: 'STEP_UP',
        reason: 'exports need a person',
        tools: ['export'],
      },
    ],
  });

  it('a rule’s own approvers, count and lifetime win over the tenant’s defaults', () => {
    expect(stepUpRules(policy, policy.rules[0])).toEqual({
      timeoutSeconds: 1200,
      approvers: ['payments-approvers'],
      approvalsRequired: 2,
    });
  });

  it('a rule without its own, or a threshold STEP_UP, takes the defaults', () => {
    const defaults = { timeoutSeconds: 600, approvers: ['soc'], approvalsRequired: 1 };
    expect(stepUpRules(policy, policy.rules[1])).toEqual(defaults);
    expect(stepUpRules(policy, undefined)).toEqual(defaults);
    expect(stepUpRules(compilePolicy({ rules: [] }), undefined)).toEqual({
      timeoutSeconds: 900,
      approvers: [],
      approvalsRequired: 1,
    });
  });

  it('approval fields belong to STEP_UP rules, and the count is bounded', () => {
    const rule = { id: 'r', condition: 'true', effect: 'BLOCK', reason: 'no', approvals_required: 2 };
    expect(() => compilePolicy({ rules: [rule] })).toThrow(PolicyError);
    expect(() => compilePolicy({ rules: [rule] })).toThrow(
      /approvals_required: only allowed when effect is STEP_UP/,
    );
    expect(() => compilePolicy({ step_up: { approvals_required: 0 }, rules: [] })).toThrow(
      /step_up.approvals_required/,
    );
  });
});
