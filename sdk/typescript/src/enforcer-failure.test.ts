import { describe, expect, it } from 'vitest';
import { actionOnFailure, classifyFailure } from './enforcer-failure.ts';

const response = (status: number) => ({
  kind: 'response' as const,
  status,
  body: { message: 'm' },
  headers: {},
});

describe('failure handling', () => {
  it('classifies outages, throttling and auth', () => {
    expect(classifyFailure({ kind: 'unreachable', message: 'ECONNREFUSED' }).kind).toBe('unreachable');
    expect(classifyFailure({ kind: 'timeout', message: 't' }).kind).toBe('timeout');
    expect(classifyFailure(response(429)).kind).toBe('rate_limited');
    expect(classifyFailure(response(503)).kind).toBe('server_error');
    expect(classifyFailure(response(401)).kind).toBe('auth');
    expect(classifyFailure(response(403)).kind).toBe('auth');
    expect(classifyFailure(response(400)).kind).toBe('bad_request');
  });

  it('fails open on outages only; auth always blocks; fail-closed blocks everything', () => {
    for (const status of [429, 500, 503])
      expect(actionOnFailure(classifyFailure(response(status)), true, false).action).toBe('run');
    expect(actionOnFailure(classifyFailure({ kind: 'timeout', message: 't' }), true, false).action).toBe(
      'run',
    );
    expect(actionOnFailure(classifyFailure(response(401)), true, false)).toMatchObject({
      action: 'block',
      reasonCode: 'enforcer_auth_failed',
    });
    expect(actionOnFailure(classifyFailure(response(503)), false, false)).toMatchObject({
      action: 'block',
      reasonCode: 'enforcer_unavailable',
    });
    expect(actionOnFailure(classifyFailure(response(503)), false, true).action).toBe('run');
  });
});
