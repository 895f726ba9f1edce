import { describe, expect, it } from 'vitest';
import { deferReason, readEnforceDecision, readHoldState } from './decision.ts';

describe('readEnforceDecision', () => {
  it('reads the fields the SDK acts on', () => {
    const read = readEnforceDecision({
      decision: 'MODIFY',
      reason: 'redacted',
      decision_reason_code: 'policy_rule',
      modified_tool_args: { a: 1 },
    });
    expect(read.decision).toBe('MODIFY');
    expect(read.modifiedToolArgs).toEqual({ value: { a: 1 } });
  });

  it('turns unknown decisions and a STEP_UP without a hold token into BLOCK', () => {
    expect(readEnforceDecision({ decision: 'MAYBE' }).decision).toBe('BLOCK');
    expect(readEnforceDecision(null).decision).toBe('BLOCK');
    expect(readEnforceDecision({ decision: 'STEP_UP', reason: 'x' }).decision).toBe('BLOCK');
    expect(readEnforceDecision({ decision: 'step_up', hold_token: 't' }).decision).toBe('STEP_UP');
  });
});

describe('readHoldState', () => {
  it('reads pending, approved and refused holds', () => {
    expect(readHoldState({ resolved: false, decision: 'STEP_UP' })).toEqual({ resolved: false });
    expect(readHoldState({ resolved: true, decision: 'ALLOW' })).toMatchObject({
      resolved: true,
      approved: true,
    });
    expect(readHoldState({ resolved: true, decision: 'BLOCK', reason: 'expired' })).toEqual({
      resolved: true,
      approved: false,
      reason: 'expired',
    });
  });
});

it('deferReason names the retry delay', () => {
  expect(deferReason('exports run at night', 45)).toBe('exports run at night (deferred: retry in 45 s)');
});
