import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Store } from '@thoth/platform';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enforceBody, startTestApi, type TestApi } from './api-harness.ts';
import { freePort } from './helpers.ts';
import { startTestIdp, type TestIdp } from './oidc-idp.ts';

/**
 * Single sign-on in a real Chromium (Debian's `chromium`, driven by playwright-core): a person signs in to the
 * console through a real OpenID Provider (`oidc-provider`: its login and consent pages), lands with an HttpOnly
 * session cookie and no token in the page, and votes on a two-person approval; a viewer is offered no vote; the
 * second approver releases the call.
 */
const ROOT = resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const TENANT = 'acme-corp';
const profileDir = mkdtempSync(join(tmpdir(), 'thoth-sso-chromium-'));
const work = mkdtempSync(join(tmpdir(), 'thoth-sso-e2e-'));

let idp: TestIdp;
let api: TestApi;
let store: Store;
let base = '';
let context: BrowserContext;
let page: Page;
/** Errors of Thoth's own pages (the IdP's test pages are not ours to judge). */
const consoleErrors: string[] = [];

beforeAll(async () => {
  expect(existsSync(join(ROOT, 'console/dist/index.html')), 'console built (npm run build -w console)').toBe(
    true,
  );
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  idp = await startTestIdp({ redirectUris: [`${base}/console/api/sso/callback`] });
  const config = join(work, 'sso.yaml');
  writeFileSync(
    config,
    JSON.stringify({
      issuer: idp.issuer,
      client_id: idp.clients.console.id,
      client_secret: idp.clients.console.secret,
      scopes: ['openid', 'email', 'profile', 'groups'],
      allow_http: true,
      redirect_uri: `${base}/console/api/sso/callback`,
      tenants: {
        [TENANT]: {
          roles: { 'soc-viewers': 'viewer', 'payments-approvers': 'approver', 'thoth-admins': 'admin' },
        },
      },
    }),
  );
  // The console's overview reads the audit trail: give the API a real store.
  store = await Store.open({ database: 'thoth', dataDir: join(work, 'store') });
  await store.migrate();
  api = await startTestApi({
    store,
    env: { THOTH_SSO_CONFIG: config },
    policy: {
      rules: [
        {
          id: 'large-wire',
          condition: 'true',
          tools: ['wire_funds'],
          effect: 'STEP_UP',
          reason: 'wires need two approvers',
          approvers: ['payments-approvers'],
          approvals_required: 2,
        },
      ],
    },
  });
  await api.service.app.listen({ port, host: '127.0.0.1' });
  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
    viewport: { width: 1280, height: 800 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error' && page.url().startsWith(base)) consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(`pageerror: ${error.message}`));
}, 90_000);

afterAll(async () => {
  await context?.close();
  await api?.close();
  await store?.close();
  await idp?.close();
  rmSync(profileDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

/** Signs `login` in from the console's sign-in page, through the IdP's login and consent pages. */
async function signInAs(login: string): Promise<void> {
  // A new person: forget the previous one's sessions (Thoth's and the IdP's).
  await context.clearCookies();
  await page.goto(`${base}/console/`);
  await page.getByRole('button', { name: 'Sign in with single sign-on' }).waitFor();
  await page.getByLabel('Tenant', { exact: true }).fill(TENANT);
  await page.getByRole('button', { name: 'Sign in with single sign-on' }).click();
  // The IdP's own pages.
  await page.waitForURL(`${idp.issuer}/**`);
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('correct horse battery staple');
  await page.locator('button[type="submit"]').first().click();
  await page.waitForURL(/\/interaction\/|\/console\//);
  if (page.url().startsWith(idp.issuer)) await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}/console/**`);
  await page.getByTestId('who').waitFor();
}

async function openApproval(id: string) {
  await page.goto(`${base}/console/approvals?id=${encodeURIComponent(id)}`);
  return page.getByRole('complementary', { name: 'Approval detail' });
}

describe('console single sign-on in Chromium', () => {
  it('signs people in through the IdP; a viewer cannot vote; two approvers release a two-person hold', async () => {
    const enforced = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: { authorization: `Bearer ${api.key}` },
      payload: enforceBody({
        tool_name: 'wire_funds',
        approved_scope: ['wire_funds'],
        tool_args: { amount: 90_000 },
      }),
    });
    const answer = enforced.json() as { decision: string; decision_id: string; hold_token: string };
    const { decision, decision_id: decisionId, hold_token: holdToken } = answer;
    expect(decision).toBe('STEP_UP');
    const approvalId = `apr_${decisionId}`;

    await signInAs('alice');
    expect(await page.getByTestId('who').textContent()).toContain('alice@example.com');
    // The session is a server-side one: an HttpOnly cookie, and nothing of a token in the page's storage.
    const session = (await context.cookies(base)).find((c) => c.name === 'thoth_console');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    const storage = JSON.stringify(
      await page.evaluate('({ local: { ...window.localStorage }, session: { ...window.sessionStorage } })'),
    );
    expect(storage).not.toMatch(/eyJ|thoth_(live|test)_/);
    expect(await page.evaluate('document.cookie')).not.toContain('thoth_console');

    let detail = await openApproval(approvalId);
    await detail.getByTestId('approval-rule').waitFor();
    expect(await detail.getByTestId('approval-rule').textContent()).toContain(
      'Needs 2 approvals from payments-approvers',
    );
    await detail.getByLabel('Comment').fill('invoice 4471 matches');
    await detail.getByRole('button', { name: 'Approve' }).click();
    await detail.getByText('Approved by alice@example.com').waitFor();
    // One approval of two: the agent still waits.
    expect(api.service.holds.get(holdToken)?.status).toBe('pending');

    await signInAs('bob');
    detail = await openApproval(approvalId);
    await detail.getByText('Your role is viewer').waitFor();
    expect(await detail.getByRole('button', { name: 'Approve' }).count()).toBe(0);

    await signInAs('carol');
    detail = await openApproval(approvalId);
    await detail.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('complementary', { name: 'Approval detail' }).waitFor({ state: 'detached' });
    expect(api.service.holds.get(holdToken)).toMatchObject({
      status: 'approved',
      votes: [
        expect.objectContaining({ principal: expect.objectContaining({ subject: 'alice' }) }),
        expect.objectContaining({ principal: expect.objectContaining({ subject: 'carol' }) }),
      ],
    });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in with single sign-on' }).waitFor();
    expect(consoleErrors, consoleErrors.join('\n')).toEqual([]);
  }, 90_000);
});
