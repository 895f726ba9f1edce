import { describe, expect, it } from 'vitest';
import {
  type ConsolePrincipal,
  ConsoleSessions,
  cookieValue,
  csrfValid,
  isSafeMethod,
  sessionCookie,
} from './console-sessions.ts';

const principal: ConsolePrincipal = {
  credential: 'thoth_live_secret',
  method: 'api-key',
  label: 'analyst',
  tenantId: 'acme-corp',
  permissions: ['read'],
  agentId: null,
  mintedKeyId: null,
};

describe('console sessions', () => {
  it('creates opaque sessions that expire and end', () => {
    let now = 1_000;
    const sessions = new ConsoleSessions(60_000, () => now);
    const s = sessions.create(principal);
    expect(s.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(s.csrfToken).not.toBe(s.id);
    expect(sessions.get(s.id)?.principal.label).toBe('analyst');
    now += 60_000;
    expect(sessions.get(s.id)).toBeUndefined();
    const t = sessions.create(principal);
    sessions.end(t.id);
    expect(sessions.get(t.id)).toBeUndefined();
    expect(sessions.size).toBe(0);
  });

  it('reads its cookie among others and writes HttpOnly, SameSite=Strict, Secure on TLS', () => {
    expect(cookieValue('a=1; thoth_console=abc ;b=2', 'thoth_console')).toBe('abc');
    expect(cookieValue('thoth_consolex=1', 'thoth_console')).toBeUndefined();
    expect(cookieValue(undefined, 'thoth_console')).toBeUndefined();
    expect(sessionCookie('v', 60, true)).toBe(
      'thoth_console=v; Path=/; HttpOnly; SameSite=Strict; Max-Age=60; Secure',
    );
    expect(sessionCookie('', 0, false)).toBe('thoth_console=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0');
  });

  it('checks the CSRF token of mutations only', () => {
    const s = new ConsoleSessions().create(principal);
    expect(csrfValid(s, s.csrfToken)).toBe(true);
    expect(csrfValid(s, `${s.csrfToken}x`)).toBe(false);
    expect(csrfValid(s, undefined)).toBe(false);
    expect(csrfValid(s, [s.csrfToken])).toBe(false);
    expect(['GET', 'HEAD', 'OPTIONS'].every(isSafeMethod)).toBe(true);
    expect(['POST', 'PUT', 'PATCH', 'DELETE'].some(isSafeMethod)).toBe(false);
  });
});
