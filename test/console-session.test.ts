import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';

/**
 * The console's server side: sign-in exchanges a credential for an HttpOnly SameSite=Strict cookie, the cookie
 * authenticates API calls exactly as the key would, mutations need the CSRF token, sign-out ends the session,
 * and the built console is served with a CSP that allows no inline script.
 */
let api: TestApi;
let readKey = '';
let readKeyId = '';
type Json = Record<string, unknown>;

beforeAll(async () => {
  api = await startTestApi({
    policy: { rules: [{ id: 'hold-wire', condition: 'tool == "wire"', effect: 'STEP_UP', reason: 'wire' }] },
  });
  const created = await api.service.control.commands.createApiKey({
    tenantId: 'acme-corp',
    name: 'analyst-read',
    permissions: ['read'],
    createdBy: 'test',
  });
  readKey = created.apiKey;
  readKeyId = created.record.key_id;
});
afterAll(async () => {
  await api?.close();
});

async function signIn(credential: string, tenant?: string) {
  const r = await api.inject({
    method: 'POST',
    url: '/console/api/session',
    payload: { credential, tenant },
  });
  const setCookie = String(r.headers['set-cookie'] ?? '');
  const cookie = setCookie.split(';')[0] ?? '';
  return { r, setCookie, cookie, body: r.json() as Json };
}

describe('console sign-in', () => {
  it('exchanges a key for an HttpOnly, SameSite=Strict cookie and never returns the key', async () => {
    const { r, setCookie, body } = await signIn(api.key);
    expect(r.statusCode).toBe(200);
    expect(setCookie).toMatch(
      /^thoth_console=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/,
    );
    expect(setCookie).not.toContain('Secure'); // plain http here; Secure is added on TLS
    expect(JSON.stringify(body)).not.toContain(api.key);
    expect(body).toMatchObject({
      signed_in: true,
      tenant_id: 'acme-corp',
      method: 'api-key',
      label: 'test',
      agent_id: null,
    });
    expect(body.permissions).toEqual(['execute', 'write', 'read']);
    expect(body.csrf_token).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('takes JSON only: a form posted from another page cannot sign a browser in', async () => {
    const r = await api.inject({
      method: 'POST',
      url: '/console/api/session',
      // A form with enctype="text/plain" can post a body that is valid JSON, without a preflight.
      headers: { 'content-type': 'text/plain' },
      payload: JSON.stringify({ credential: api.key }),
    });
    expect(r.statusCode).toBe(415);
    expect(String(r.headers['set-cookie'] ?? '')).toBe('');
  });

  it('refuses unknown keys, and the admin token without a tenant', async () => {
    expect((await signIn('thoth_live_nope')).r.statusCode).toBe(401);
    expect((await signIn(ADMIN_TOKEN)).r.statusCode).toBe(400);
    expect((await signIn(api.key, 'beta-corp')).r.statusCode).toBe(403);
  });

  it('the cookie authenticates API reads; mutations need the CSRF token', async () => {
    const { cookie, body } = await signIn(api.key);
    const session = await api.inject({ method: 'GET', url: '/console/api/session', headers: { cookie } });
    expect(session.statusCode).toBe(200);
    expect((session.json() as Json).csrf_token).toBe(body.csrf_token);
    const approvals = await api.inject({
      method: 'GET',
      url: '/acme-corp/thoth/approvals',
      headers: { cookie },
    });
    expect(approvals.statusCode).toBe(200);
    // Another tenant's data: refused exactly as for the key.
    const other = await api.inject({ method: 'GET', url: '/beta-corp/thoth/approvals', headers: { cookie } });
    expect(other.statusCode).toBe(403);
    // A mutation without (or with a wrong) CSRF token never reaches the route.
    const payload = enforceBody({ session_id: 'console-csrf' });
    const noCsrf = await api.inject({ method: 'POST', url: '/v1/enforce', headers: { cookie }, payload });
    expect(noCsrf.statusCode).toBe(403);
    expect((noCsrf.json() as Json).error).toBe('csrf_failed');
    const wrong = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { cookie, 'x-csrf-token': 'x'.repeat(43) },
      payload,
    });
    expect(wrong.statusCode).toBe(403);
    const withCsrf = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { cookie, 'x-csrf-token': String(body.csrf_token) },
      payload,
    });
    expect(withCsrf.statusCode).toBe(200);
  });

  it('a read-only session may not approve (403 from the API itself)', async () => {
    const { cookie, body } = await signIn(readKey);
    expect(body.permissions).toEqual(['read']);
    const held = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({ tool_name: 'wire', approved_scope: [] }),
    });
    expect((held.json() as Json).decision).toBe('STEP_UP');
    const list = await api.inject({
      method: 'GET',
      url: '/acme-corp/thoth/approvals?status=pending',
      headers: { cookie },
    });
    const [pending] = (list.json() as { data: { id: string }[] }).data;
    expect(pending).toBeDefined();
    const forced = await api.inject({
      method: 'POST',
      url: `/acme-corp/thoth/approvals/${pending?.id}/resolve`,
      headers: { cookie, 'x-csrf-token': String(body.csrf_token) },
      payload: { decision: 'approve' },
    });
    expect(forced.statusCode).toBe(403);
  });

  it('the admin token signs in to a tenant and manages its keys', async () => {
    const { cookie, body } = await signIn(ADMIN_TOKEN, 'acme-corp');
    expect(body).toMatchObject({ method: 'admin-token', tenant_id: 'acme-corp' });
    const created = await api.inject({
      method: 'POST',
      url: '/acme-corp/thoth/api-keys',
      headers: { cookie, 'x-csrf-token': String(body.csrf_token) },
      payload: { name: 'from-console', permissions: ['read'] },
    });
    expect(created.statusCode).toBe(201);
    // The session acts with a key minted for it (the trail's reads need a tenant key): sign-out revokes it.
    const minted = () =>
      api.service.control.projection
        .apiKeyList('acme-corp')
        .filter((k) => k.name === 'console session (admin token)');
    expect(minted().map((k) => k.revoked_at)).toEqual([null]);
    const feed = await api.inject({ method: 'GET', url: '/acme-corp/thoth/approvals', headers: { cookie } });
    expect(feed.statusCode).toBe(200);
    const out = await api.inject({
      method: 'DELETE',
      url: '/console/api/session',
      headers: { cookie, 'x-csrf-token': String(body.csrf_token) },
    });
    expect(out.statusCode).toBe(204);
    expect(minted()[0]?.revoked_at).not.toBeNull();
    expect((await signIn(ADMIN_TOKEN, 'no-such-tenant')).r.statusCode).toBe(404);
  });

  it('sign-out ends the server session; a revoked key ends its session', async () => {
    const { cookie, body } = await signIn(api.key);
    const refused = await api.inject({ method: 'DELETE', url: '/console/api/session', headers: { cookie } });
    expect(refused.statusCode).toBe(403); // sign-out is a mutation too
    const out = await api.inject({
      method: 'DELETE',
      url: '/console/api/session',
      headers: { cookie, 'x-csrf-token': String(body.csrf_token) },
    });
    expect(out.statusCode).toBe(204);
    expect(String(out.headers['set-cookie'])).toContain('Max-Age=0');
    const ended = await api.inject({ method: 'GET', url: '/console/api/session', headers: { cookie } });
    expect(ended.json()).toEqual({ signed_in: false });
    const after = await api.inject({ method: 'GET', url: '/acme-corp/thoth/approvals', headers: { cookie } });
    expect(after.statusCode).toBe(401);

    const reader = await signIn(readKey);
    await api.service.control.commands.revokeApiKey('acme-corp', readKeyId, 'test');
    const gone = await api.inject({
      method: 'GET',
      url: '/console/api/session',
      headers: { cookie: reader.cookie },
    });
    expect((gone.json() as Json).signed_in).toBe(false);
  });
});

describe('console static files', () => {
  it('serves the single-page app with a CSP that allows no inline script', async () => {
    const redirect = await api.inject({ method: 'GET', url: '/console' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('/console/');
    for (const url of ['/console/', '/console/feed?agent_id=x']) {
      const r = await api.inject({ method: 'GET', url, headers: { 'accept-encoding': 'gzip' } });
      expect(r.statusCode, url).toBe(200);
      expect(r.headers['content-type']).toContain('text/html');
      const csp = String(r.headers['content-security-policy']);
      expect(csp).toContain("script-src 'self'");
      expect(csp).not.toContain('unsafe-inline');
      expect(csp).toContain("frame-ancestors 'none'");
      expect(r.headers['x-content-type-options']).toBe('nosniff');
    }
    const index = (await api.inject({ method: 'GET', url: '/console/' })).body;
    expect(index).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // every script is a file
    const script = /<script[^>]*src="\/console\/(assets\/[^"]+\.js)"/.exec(index)?.[1];
    expect(script).toBeDefined();
    const js = await api.inject({
      method: 'GET',
      url: `/console/${script}`,
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(js.statusCode).toBe(200);
    expect(js.headers['content-encoding']).toBe('gzip');
    expect(js.headers['cache-control']).toContain('immutable');
    expect((await api.inject({ method: 'GET', url: '/console/assets/missing.js' })).statusCode).toBe(404);
  });
});
