import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { type CookieJar, signInThroughIdp, startTestIdp, type TestIdp } from './oidc-idp.ts';

/**
 * Single sign-on against a real OpenID Provider (the certified `oidc-provider` package on a loopback port), over
 * real HTTP: a person signs in with the code flow and PKCE, gets a server-side console session, and acts with the
 * role the tenant maps their IdP groups to; approvals record who voted, two-person rules need two people.
 */

const TENANT = 'acme-corp';
const policy = {
  rules: [
    {
      id: 'large-wire',
      condition: 'true',
      tools: ['wire_transfer'],
      effect: 'STEP_UP',
      reason: 'wires need two approvers',
      approvers: ['payments-approvers'],
      approvals_required: 2,
    },
    {
      id: 'export',
      condition: 'true',
      tools: ['export_report'],
      effect: 'STEP_UP',
      reason: 'exports need one approver',
    },
  ],
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Thoth {
  api: TestApi;
  base: string;
}

async function startThoth(idp: TestIdp, port: number, extra: Record<string, unknown> = {}): Promise<Thoth> {
  const path = join(tmpdir(), `thoth-sso-${port}.yaml`);
  writeFileSync(
    path,
    JSON.stringify({
      issuer: idp.issuer,
      client_id: idp.clients.console.id,
      client_secret_env: 'TEST_SSO_CLIENT_SECRET',
      scopes: ['openid', 'email', 'profile', 'groups'],
      groups_claim: 'groups',
      cli_client_id: idp.clients.cli.id,
      allow_http: true,
      redirect_uri: `http://127.0.0.1:${port}/console/api/sso/callback`,
      tenants: {
        [TENANT]: {
          roles: { 'soc-viewers': 'viewer', 'payments-approvers': 'approver', 'thoth-admins': 'admin' },
        },
      },
      ...extra,
    }),
  );
  process.env.TEST_SSO_CLIENT_SECRET = idp.clients.console.secret;
  const api = await startTestApi({ policy, env: { THOTH_SSO_CONFIG: path } });
  await api.service.app.listen({ port, host: '127.0.0.1' });
  return { api, base: `http://127.0.0.1:${port}` };
}

/** A browser signed in as `login`: its cookie jar and CSRF token. */
interface Browser {
  jar: CookieJar;
  csrf: string;
  session: Record<string, unknown>;
}

async function signIn(thoth: Thoth, login: string): Promise<Browser> {
  const { url, jar } = await signInThroughIdp(`${thoth.base}/console/api/sso/start?tenant=${TENANT}`, login);
  expect(url).toBe(`${thoth.base}/console/`);
  const session = (await (
    await fetch(`${thoth.base}/console/api/session`, { headers: { cookie: jar.header(thoth.base) } })
  ).json()) as Record<string, unknown>;
  expect(session.signed_in).toBe(true);
  return { jar, csrf: String(session.csrf_token), session };
}

async function call(
  thoth: Thoth,
  browser: Browser,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${thoth.base}${path}`, {
    method,
    headers: {
      cookie: browser.jar.header(thoth.base),
      'x-csrf-token': browser.csrf,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A STEP_UP hold for `tool`, made by an agent acting for `userId`; returns its approval id and hold token. */
async function hold(
  thoth: Thoth,
  tool: string,
  userId: string,
): Promise<{ approvalId: string; token: string }> {
  const response = await thoth.api.inject({
    method: 'POST',
    url: '/v1/enforce',
    headers: { authorization: `Bearer ${thoth.api.key}` },
    payload: enforceBody({
      tool_name: tool,
      user_id: userId,
      approved_scope: [tool],
      session_tool_calls: [tool],
      tool_args: { amount: 25_000, to: 'ACME Ltd' },
    }),
  });
  const body = response.json() as { decision: string; decision_id: string; hold_token: string };
  expect(body.decision).toBe('STEP_UP');
  return { approvalId: `apr_${body.decision_id}`, token: body.hold_token };
}

let idp: TestIdp;
let thoth: Thoth;

beforeAll(async () => {
  const port = await freePort();
  idp = await startTestIdp({ redirectUris: [`http://127.0.0.1:${port}/console/api/sso/callback`] });
  thoth = await startThoth(idp, port);
});

afterAll(async () => {
  await thoth?.api.close();
  await idp?.close();
});

describe('single sign-on (OpenID Connect, code flow with PKCE) against a real OpenID Provider', () => {
  it('signs a person in: a server-side session with their IdP identity and the role their groups map to', async () => {
    const alice = await signIn(thoth, 'alice');
    expect(alice.session).toMatchObject({
      tenant_id: TENANT,
      method: 'sso',
      label: 'alice@example.com',
      permissions: ['read'],
      person: {
        issuer: idp.issuer,
        subject: 'alice',
        email: 'alice@example.com',
        groups: ['payments-approvers'],
        role: 'approver',
      },
    });
    // No token reaches the browser: only the opaque session cookie (HttpOnly) and the CSRF token.
    expect(JSON.stringify(alice.session)).not.toMatch(/eyJ|thoth_(live|test)_/);
    const dave = await signIn(thoth, 'dave');
    expect(dave.session).toMatchObject({
      person: { role: 'admin' },
      permissions: ['read', 'admin'],
    });
  });

  it('refuses a person whose groups have no role, and a callback this browser did not start', async () => {
    // erin signs in at the IdP, but her only group (contractors) has no role in the tenant.
    const outsider = await signInThroughIdp(`${thoth.base}/console/api/sso/start?tenant=${TENANT}`, 'erin');
    expect(outsider.response.status).toBe(403);
    expect(await outsider.response.json()).toMatchObject({
      message: expect.stringMatching(/groups \(contractors\) has a role/),
    });
    expect(outsider.jar.get(thoth.base, 'thoth_console')).toBeUndefined();

    // A callback URL from someone else's sign-in (login CSRF): this browser has no matching state cookie.
    const start = await fetch(`${thoth.base}/console/api/sso/start?tenant=${TENANT}`, { redirect: 'manual' });
    const state = new URL(start.headers.get('location')!).searchParams.get('state');
    const forged = await fetch(`${thoth.base}/console/api/sso/callback?code=abc&state=${state}`, {
      redirect: 'manual',
    });
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({
      error: 'invalid_request',
      message: expect.stringMatching(/^state:/),
    });
  });

  it('a viewer reads approvals but cannot approve (403); an approver can; the vote names the person', async () => {
    const bob = await signIn(thoth, 'bob');
    const alice = await signIn(thoth, 'alice');
    const { approvalId } = await hold(thoth, 'export_report', 'system');
    const listed = await call(thoth, bob, 'GET', `/${TENANT}/thoth/approvals?status=pending`);
    expect(listed.status).toBe(200);
    expect((listed.body.data as Array<{ id: string }>).map((a) => a.id)).toContain(approvalId);
    const refused = await call(thoth, bob, 'POST', `/${TENANT}/thoth/approvals/${approvalId}/resolve`, {
      decision: 'approve',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toMatch(/role .* is "viewer"/);
    // A viewer is no admin either.
    expect((await call(thoth, bob, 'GET', `/${TENANT}/thoth/api-keys`)).status).toBe(403);

    const approved = await call(thoth, alice, 'POST', `/${TENANT}/thoth/approvals/${approvalId}/resolve`, {
      decision: 'approve',
      comment: 'checked the report scope',
    });
    expect(approved.status).toBe(200);
    expect(approved.body).toMatchObject({
      status: 'approved',
      resolved_by: `alice@example.com (${idp.issuer})`,
      votes: [
        {
          decision: 'approve',
          comment: 'checked the report scope',
          principal: { kind: 'person', issuer: idp.issuer, subject: 'alice', email: 'alice@example.com' },
        },
      ],
    });
  });

  it('a two-person rule: self-approval refused, one person counts once, a key cannot stand in, two people release', async () => {
    const alice = await signIn(thoth, 'alice');
    const carol = await signIn(thoth, 'carol');
    const dave = await signIn(thoth, 'dave');
    // The agent acted for carol: she cannot approve her own call.
    const { approvalId, token } = await hold(thoth, 'wire_transfer', 'carol@example.com');
    const resolve = (b: Browser, decision = 'approve') =>
      call(thoth, b, 'POST', `/${TENANT}/thoth/approvals/${approvalId}/resolve`, { decision });

    const own = await resolve(carol);
    expect(own.status).toBe(403);
    expect(own.body.message).toMatch(/separation of duties/);

    const first = await resolve(alice);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      status: 'pending',
      approvals_required: 2,
      approvers: ['payments-approvers'],
    });
    expect(await resolve(alice)).toMatchObject({
      status: 403,
      body: { message: expect.stringMatching(/counts once/) },
    });

    // An admin key is no person: a two-person rule needs people.
    const adminKey = (
      await thoth.api.service.control.commands.createApiKey({
        tenantId: TENANT,
        name: 'ops',
        permissions: ['admin', 'read'],
        createdBy: 'test',
      })
    ).apiKey;
    const byKey = await thoth.api.inject({
      method: 'POST',
      url: `/${TENANT}/thoth/approvals/${approvalId}/resolve`,
      headers: { authorization: `Bearer ${adminKey}` },
      payload: { decision: 'approve' },
    });
    expect(byKey.statusCode).toBe(403);

    // The SDK still waits.
    const poll = () =>
      thoth.api.inject({
        method: 'GET',
        url: `/v1/enforce/hold/${token}`,
        headers: { authorization: `Bearer ${thoth.api.key}` },
      });
    expect((await poll()).json()).toMatchObject({ resolved: false, status: 'pending' });

    const second = await resolve(dave);
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ status: 'approved' });
    expect(
      (second.body.votes as Array<{ principal: { subject: string } }>).map((v) => v.principal.subject),
    ).toEqual(['alice', 'dave']);
    expect((await poll()).json()).toMatchObject({ resolved: true, decision: 'ALLOW', status: 'approved' });
  });

  it('the admin audit records the person who acted (issuer, subject, email)', async () => {
    await signIn(thoth, 'dave');
    const created = thoth.api
      .records()
      .filter((r) => r.schema === 'thoth.v1.AdminEvent')
      .map((r) => r.value as { action: string; principal: Record<string, unknown> | null });
    expect(created).toContainEqual(
      expect.objectContaining({
        action: 'api_key.create',
        principal: expect.objectContaining({
          kind: 'person',
          issuer: idp.issuer,
          subject: 'dave',
          email: 'dave@example.com',
        }),
      }),
    );
  });

  it('sign-out ends the session and revokes its key', async () => {
    const alice = await signIn(thoth, 'alice');
    expect((await call(thoth, alice, 'GET', `/${TENANT}/thoth/approvals`)).status).toBe(200);
    expect((await call(thoth, alice, 'DELETE', '/console/api/session')).status).toBe(204);
    expect((await call(thoth, alice, 'GET', `/${TENANT}/thoth/approvals`)).status).toBe(401);
    expect((await call(thoth, alice, 'GET', '/console/api/session')).body).toEqual({ signed_in: false });
  });
});

describe('ID tokens are verified: signature, audience, expiry, issuer', () => {
  const exchange = (idToken: string) =>
    fetch(`${thoth.base}/console/api/sso/id-token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ tenant: TENANT, id_token: idToken }),
    });

  /** A token as the IdP would sign it (its own key), with `claims` changed. */
  async function token(claims: Record<string, unknown>, key?: KeyObject): Promise<string> {
    const now = Math.floor(Date.now() / 1_000);
    const signingKey = key ?? (await importJWK(idp.signingJwk, 'RS256'));
    return new SignJWT({ email: 'alice@example.com', groups: ['payments-approvers'], ...claims })
      .setProtectedHeader({ alg: 'RS256', kid: idp.signingJwk.kid })
      .setIssuer(String(claims.iss ?? idp.issuer))
      .setSubject('alice')
      .setAudience(String(claims.aud ?? idp.clients.cli.id))
      .setIssuedAt(Number(claims.iat ?? now))
      .setExpirationTime(Number(claims.exp ?? now + 300))
      .sign(signingKey);
  }

  it('accepts a fresh token signed by the IdP for the CLI client, and opens a session for its person', async () => {
    const response = await exchange(await token({}));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      person: { subject: 'alice', role: 'approver' },
      session_token: expect.any(String),
    });
  });

  it('refuses a bad signature (another key, same kid)', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const response = await exchange(await token({}, privateKey));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ message: 'ID token refused: bad signature' });
  });

  it('refuses a token for another audience', async () => {
    const response = await exchange(await token({ aud: idp.clients.other.id }));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { message: string }).message).toMatch(/claim aud/);
  });

  it('refuses an expired token', async () => {
    const past = Math.floor(Date.now() / 1_000) - 3_600;
    const response = await exchange(await token({ iat: past - 60, exp: past }));
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ message: 'ID token refused: expired' });
  });

  it('refuses a token from another issuer', async () => {
    const response = await exchange(await token({ iss: 'https://evil.example' }));
    expect(response.status).toBe(401);
    expect(((await response.json()) as { message: string }).message).toMatch(/claim iss/);
  });

  it('refuses a tampered token (payload changed after signing)', async () => {
    const [h, p, s] = (await token({})).split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
    payload.groups = ['thoth-admins'];
    const response = await exchange(
      [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.'),
    );
    expect(response.status).toBe(401);
  });
});

describe('the browser callback verifies the ID token the token endpoint gives it', () => {
  /** The IdP's token with `changes` to its claims, signed again with the IdP's own key. */
  async function resigned(idToken: string, changes: Record<string, unknown>): Promise<string> {
    const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    return new SignJWT({ ...claims, ...changes })
      .setProtectedHeader({ alg: 'RS256', kid: idp.signingJwk.kid })
      .sign(await importJWK(idp.signingJwk, 'RS256'));
  }

  /** A sign-in as alice while the token endpoint's ID token is tampered with: refused, and no session. */
  async function signInTampered(tamper: (idToken: string) => Promise<string>) {
    idp.tamperIdToken = tamper;
    try {
      const { response, jar } = await signInThroughIdp(
        `${thoth.base}/console/api/sso/start?tenant=${TENANT}`,
        'alice',
      );
      expect(jar.get(thoth.base, 'thoth_console')).toBeUndefined();
      return { status: response.status, body: (await response.json()) as { message: string } };
    } finally {
      idp.tamperIdToken = undefined;
    }
  }

  it('a bad signature, or claims changed after signing (a forged admin group), is refused', async () => {
    const flipped = await signInTampered(async (t) => {
      const [h, p, sig] = t.split('.');
      return [h, p, `${sig!.startsWith('A') ? 'B' : 'A'}${sig!.slice(1)}`].join('.');
    });
    expect(flipped).toEqual({
      status: 401,
      body: expect.objectContaining({ message: 'ID token refused: bad signature' }),
    });
    const forged = await signInTampered(async (t) => {
      const [h, p, sig] = t.split('.');
      const claims = JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown>;
      const admin = Buffer.from(JSON.stringify({ ...claims, groups: ['thoth-admins'] })).toString(
        'base64url',
      );
      return [h, admin, sig].join('.');
    });
    expect(forged).toEqual({
      status: 401,
      body: expect.objectContaining({ message: 'ID token refused: bad signature' }),
    });
  });

  it('a token for another audience, expired, or from another issuer is refused even when the IdP’s key signed it', async () => {
    const past = Math.floor(Date.now() / 1_000) - 3_600;
    for (const changes of [
      { aud: idp.clients.other.id },
      { exp: past, iat: past - 60 },
      { iss: 'https://evil.example' },
    ]) {
      const refused = await signInTampered((t) => resigned(t, changes));
      expect(refused.status, JSON.stringify(changes)).toBe(401);
    }
    // The untampered flow still works.
    expect((await signIn(thoth, 'alice')).session).toMatchObject({ person: { subject: 'alice' } });
  });
});

describe('session expiry', () => {
  it('a session past its lifetime is over: the console is signed out and the API answers 401', async () => {
    const port = await freePort();
    const shortIdp = await startTestIdp({
      redirectUris: [`http://127.0.0.1:${port}/console/api/sso/callback`],
    });
    const short = await startThoth(shortIdp, port, { session_ttl_seconds: 2 });
    try {
      const alice = await signIn(short, 'alice');
      expect(alice.session.expires_at).toBeDefined();
      expect((await call(short, alice, 'GET', `/${TENANT}/thoth/approvals`)).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 2_200));
      expect((await call(short, alice, 'GET', '/console/api/session')).body).toEqual({ signed_in: false });
      expect((await call(short, alice, 'GET', `/${TENANT}/thoth/approvals`)).status).toBe(401);
    } finally {
      await short.api.close();
      await shortIdp.close();
    }
  });
});

// The admin token still signs in as before (its session records the admin token as the actor).
it('the admin token and API keys keep signing in to the console', async () => {
  const response = await thoth.api.inject({
    method: 'POST',
    url: '/console/api/session',
    payload: { credential: ADMIN_TOKEN, tenant: TENANT },
  });
  expect(response.statusCode).toBe(200);
});
