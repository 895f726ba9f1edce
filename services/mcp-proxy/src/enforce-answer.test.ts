import { describe, expect, it } from 'vitest';
import { modifiedArguments, readEnforceAnswer, readHoldState } from './enforce-answer.ts';

describe('readEnforceAnswer', () => {
  it('reads the decision and its details', () => {
    const answer = readEnforceAnswer({
      decision: 'DEFER',
      defer_reason: 'later',
      decision_reason_code: 'policy_rule',
      violation_id: 'v1',
      defer_timeout_seconds: 45,
    });
    expect(answer).toMatchObject({
      decision: 'DEFER',
      reason: 'later',
      reasonCode: 'policy_rule',
      violationId: 'v1',
      deferTimeoutSeconds: 45,
    });
  });

  it('turns an unknown decision, or a STEP_UP without a hold token, into a BLOCK', () => {
    expect(readEnforceAnswer({ decision: 'MAYBE' }).decision).toBe('BLOCK');
    expect(readEnforceAnswer({ decision: 'STEP_UP' })).toMatchObject({
      decision: 'BLOCK',
      reason: expect.stringContaining('no hold token'),
    });
    expect(readEnforceAnswer('not json').decision).toBe('BLOCK');
  });
});

describe('readHoldState', () => {
  it('approves only an explicit ALLOW', () => {
    expect(readHoldState({ resolved: false })).toEqual({ resolved: false });
    expect(readHoldState({ resolved: true, decision: 'ALLOW' })).toMatchObject({
      resolved: true,
      approved: true,
    });
    expect(readHoldState({ resolved: true, decision: 'BLOCK', reason: 'no' })).toEqual({
      resolved: true,
      approved: false,
      reason: 'no',
    });
  });
});

describe('modifiedArguments', () => {
  it('takes the rewritten kwargs (the shape the proxy sends), or a bare object whole', () => {
    expect(modifiedArguments({ args: [], kwargs: { path: '/tmp/x' } })).toEqual({ path: '/tmp/x' });
    expect(modifiedArguments({ path: '/tmp/y' })).toEqual({ path: '/tmp/y' });
  });

  it('cannot apply positionals or a non-object', () => {
    expect(modifiedArguments({ args: ['a'], kwargs: {} })).toBeUndefined();
    expect(modifiedArguments(['a'])).toBeUndefined();
    expect(modifiedArguments(null)).toBeUndefined();
  });
});
