import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { instrument, ThothPolicyViolation } from '../sdk/typescript/src/index.ts';
import { freePort, waitFor } from './helpers.ts';

/**
 * The console end to end in a real Chromium (Debian's `chromium`, driven by playwright-core) against a real
 * `npm start` process: an agent driven through the TypeScript SDK (ALLOW, BLOCK, a STEP_UP left pending), the
 * feed receiving those rows live, the session timeline, the step-up approved in the console (the SDK call
 * completes), a bundle verified in the browser (VALID, and INVALID once tampered), a read-only key offered no
 * approve button (and refused when forced), 100k rows scrolled without a long task, and no console error.
 * Screenshots of every view (dark and light) go to THOTH_CONSOLE_SCREENSHOTS (docs/console to refresh the
 * README's), else to a temporary directory.
 */
const ROOT = resolve(import.meta.dirname, '..');
const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'e2e-admin-token-0123456789abcdef';
const TENANT = 'acme-corp';
const SESSION = 'e2e-session-1';
const dataDir = mkdtempSync(join(tmpdir(), 'thoth-console-e2e-'));
const profileDir = mkdtempSync(join(tmpdir(), 'thoth-console-chromium-'));
const shotsDir = process.env.THOTH_CONSOLE_SCREENSHOTS
  ? resolve(ROOT, process.env.THOTH_CONSOLE_SCREENSHOTS)
  : mkdtempSync(join(tmpdir(), 'thoth-console-shots-'));

let thoth: ChildProcess | undefined;
let output = '';
let base = '';
let context: BrowserContext;
let page: Page;
const browserErrors: string[] = [];
const keys = { agent: '', analyst: '', reader: '' };

async function adminPost(path: string, body: unknown): Promise<Record<string, unknown>> {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
}

const createKey = async (name: string, permissions: string[]) =>
  (await adminPost(`/${TENANT}/thoth/api-keys`, { name, permissions })).api_key as string;

beforeAll(async () => {
  expect(
    existsSync(join(ROOT, 'console/dist/index.html')),
    'console built (npm ci runs npm run build -w console)',
  ).toBe(true);
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  thoth = spawn(process.execPath, ['services/thoth/dist/main.js'], {
    cwd: ROOT,
    env: {
      ...process.env,
      PORT: String(port),
      THOTH_DATA_DIR: dataDir,
      THOTH_ADMIN_TOKEN: ADMIN_TOKEN,
      THOTH_PRINT_ADMIN_TOKEN: 'false',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  thoth.stdout?.on('data', (d) => (output += d));
  thoth.stderr?.on('data', (d) => (output += d));
  await waitFor(
    'thoth /healthz',
    async () => (await fetch(`${base}/healthz`).catch(() => undefined))?.status === 200,
    30_000,
  );
  await adminPost(`/${TENANT}/thoth/policies`, {
    policy: {
      rules: [
        {
          id: 'wire-needs-approval',
          condition: 'tool == "wire_funds"',
          effect: 'STEP_UP',
          reason: 'wires need a person',
        },
      ],
    },
    comment: 'e2e',
  });
  keys.agent = await createKey('e2e-agent', ['execute', 'write', 'read']);
  keys.analyst = await createKey('e2e-analyst', ['read', 'admin']);
  keys.reader = await createKey('e2e-reader', ['read']);

  context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 800 },
    acceptDownloads: true,
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') browserErrors.push(message.text());
  });
  page.on('pageerror', (error) => browserErrors.push(`pageerror: ${error.message}`));
  // Which request a "Failed to load resource" error was about.
  page.on('response', (response) => {
    if (response.status() >= 400) browserErrors.push(`HTTP ${response.status()} ${response.url()}`);
  });
}, 90_000);

afterAll(async () => {
  await context?.close();
  thoth?.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(profileDir, { recursive: true, force: true });
  if (!process.env.THOTH_CONSOLE_SCREENSHOTS) rmSync(shotsDir, { recursive: true, force: true });
});

/** An agent of tenant acme-corp in session `sessionId`, through the TypeScript SDK. */
function agentIn(sessionId: string) {
  return instrument(
    {
      tools: {
        search_docs: async (q: string) => `found ${q}`,
        submit_payment: async (invoice: string, amount: number) => `paid ${amount} on ${invoice}`,
        wire_funds: async (account: string, amount: number) => `wired ${amount} to ${account}`,
      },
    },
    {
      agentId: 'invoice-processor-v2',
      tenantId: TENANT,
      apiUrl: base,
      apiKey: keys.agent,
      approvedScope: ['search_docs', 'wire_funds'],
      sessionId,
      stepUpPollIntervalMs: 250,
      stepUpTimeoutMs: 30_000, // the second hold is left pending: its poller must not outlive the run by long
      logger: { warn: () => undefined },
    },
  );
}

async function signIn(credential: string) {
  await page.goto(`${base}/console/`);
  await page.locator('[data-testid="who"], #credential').first().waitFor();
  if (await page.getByTestId('who').isVisible()) return; // signed in already
  await page.getByLabel('API key or admin token').fill(credential);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('who').waitFor();
}

async function shoot(name: string) {
  for (const theme of ['light', 'dark'] as const) {
    // In-page code is a string: this file is type-checked without the DOM library.
    await page.evaluate(`document.documentElement.dataset.theme = '${theme}'`);
    await page.screenshot({ path: join(shotsDir, `${name}-${theme}.png`) });
  }
}

describe('SOC console in Chromium', () => {
  it('scrolls 100,000 feed rows with no long task over 50 ms', async () => {
    await signIn(keys.reader);
    await page.goto(`${base}/console/feed?synthetic=100000`);
    await page.getByTestId('row-count').filter({ hasText: '100,000 rows' }).waitFor();
    await page.getByTestId('feed-row').first().waitFor();
    // Measure the scrolling, not the load: let building the 100k rows (and collecting the views before) settle.
    await page.waitForTimeout(1_000);
    const measure = async () =>
      (await page.evaluate(`(async () => {
      const durations = [];
      let step = 0;
      const observer = new PerformanceObserver((list) => {
        // Pairs: a long task's duration, and the scroll step it happened at.
        for (const entry of list.getEntries()) durations.push(Math.round(entry.duration), step);
      });
      observer.observe({ type: 'longtask' });
      const scroller = document.querySelector('[data-testid="feed-scroll"]');
      const frame = () => new Promise((r) => requestAnimationFrame(() => r()));
      // Two seconds of fast scrolling down, then a jump to the end and back up.
      for (let i = 0; i < 120; i++) {
        scroller.scrollTop += 900;
        step++;
        await frame();
      }
      scroller.scrollTop = scroller.scrollHeight;
      await frame();
      for (let i = 0; i < 60; i++) {
        scroller.scrollTop -= 1500;
        step++;
        await frame();
      }
      await new Promise((r) => setTimeout(r, 200));
      observer.disconnect();
      return durations;
    })()`)) as number[];
    // Long tasks are wall-clock: on a CI machine busy with other test files a frame can be stretched by the
    // scheduler. A round with a long task is measured again (at most three rounds; every round is logged).
    const rounds: number[][] = [];
    for (let round = 0; round < 3; round++) {
      const pairs = await measure();
      rounds.push(pairs.filter((_, i) => i % 2 === 0));
      console.log(
        `[console-e2e] round ${round + 1}: long tasks [duration ms, scroll step]: ${JSON.stringify(pairs)}`,
      );
      if (rounds.at(-1)?.every((d) => d <= 50)) break;
      await page.evaluate(`document.querySelector('[data-testid="feed-scroll"]').scrollTop = 0`);
      await page.waitForTimeout(500);
    }
    expect(rounds.at(-1)?.filter((d) => d > 50)).toEqual([]);
    expect(browserErrors, browserErrors.join('\n')).toEqual([]);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key or admin token').waitFor();
  }, 60_000);

  it('follows an agent live, approves its step-up, verifies evidence, and hides approval from a reader', async () => {
    mkdirSync(shotsDir, { recursive: true });
    // Sign-in page, then an analyst (read + admin) signs in; the key never lands in the browser.
    await page.goto(`${base}/console/`);
    await page.locator('[data-testid="who"], #credential').first().waitFor();
    if (await page.getByTestId('who').isVisible())
      await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key or admin token').waitFor();
    await shoot('sign-in');
    await signIn(keys.analyst);
    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === 'thoth_console');
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(JSON.stringify(await page.evaluate('({ ...window.localStorage })'))).not.toContain(keys.analyst);

    // The live feed is open before the agent acts: its rows arrive over the stream.
    await page.getByRole('link', { name: 'Live feed' }).click();
    await page.getByTestId('stream-state').filter({ hasText: 'live' }).waitFor();
    const agent = agentIn(SESSION);
    expect(await agent.tools.search_docs('quarterly report')).toBe('found quarterly report');
    await expect(agent.tools.submit_payment('INV-001', 1500)).rejects.toBeInstanceOf(ThothPolicyViolation);
    const held = agent.tools.wire_funds('DE89-3704', 25_000); // STEP_UP: pending until a person decides
    const heldOutcome = held.then(
      (v) => ({ ok: true as const, v }),
      (e: unknown) => ({ ok: false as const, e }),
    );
    const rows = page.getByTestId('feed-row').filter({ hasText: 'DECISION' }); // not TOOL_CALL_BLOCK events
    for (const [tool, decision] of [
      ['search_docs', 'ALLOW'],
      ['submit_payment', 'BLOCK'],
      ['wire_funds', 'STEP_UP'],
    ] as const)
      await rows.filter({ hasText: tool }).filter({ hasText: decision }).first().waitFor({ timeout: 15_000 });
    await rows.filter({ hasText: 'submit_payment' }).filter({ hasText: 'BLOCK' }).first().click();
    await page.getByRole('complementary', { name: 'Row detail' }).getByText('Decision envelope').waitFor();
    await shoot('feed');

    // The session timeline: PRE → decision → POST per call, once the audit writer stored them.
    await page.goto(`${base}/console/sessions/${SESSION}`);
    await waitFor(
      'three calls on the timeline',
      async () => (await page.getByTestId('call-row').count()) >= 3,
      20_000,
    );

    // Approve the step-up in the console; the SDK's held call completes.
    await page.getByRole('link', { name: 'Approvals' }).click();
    const pending = page.getByTestId('approval-row').filter({ hasText: 'wire_funds' });
    await pending.first().waitFor();
    await pending.first().getByRole('button').click();
    await page.getByLabel('Comment').fill('verified with the finance team');
    await shoot('approvals');
    await page.getByRole('button', { name: 'Approve' }).click();
    const outcome = await heldOutcome;
    expect(outcome).toEqual({ ok: true, v: 'wired 25000 to DE89-3704' });

    // The bundle, verified in the browser: VALID; the same file tampered: INVALID naming the broken link.
    await page.goto(`${base}/console/sessions/${SESSION}`);
    await waitFor(
      'the POST of the approved call',
      async () => (await page.getByTestId('call-row').count()) >= 3,
      20_000,
    );
    await page.getByRole('button', { name: 'Verify in browser' }).click();
    const verdict = page.getByTestId('verdict');
    await verdict.filter({ hasText: 'VALID' }).waitFor();
    expect(await verdict.textContent()).toMatch(/^VALID/);
    await shoot('session');
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download evidence bundle' }).click(),
    ]);
    const bundle = JSON.parse(readFileSync((await download.path()) ?? '', 'utf8')) as {
      records: { tool_name: string; chain_index: number }[];
    };
    expect(bundle.records.length).toBeGreaterThanOrEqual(3);
    const victim = bundle.records[1]!;
    victim.tool_name = 'tampered_tool';
    await page.getByTestId('bundle-file').setInputFiles({
      name: 'tampered.json',
      mimeType: 'application/json',
      buffer: Buffer.from(JSON.stringify(bundle)),
    });
    await verdict.filter({ hasText: 'INVALID' }).waitFor();
    expect(await verdict.textContent()).toContain(`chain_index ${victim.chain_index}): hash does not match`);

    const policies = (await (
      await fetch(`${base}/${TENANT}/thoth/policies`, { headers: { authorization: `Bearer ${keys.reader}` } })
    ).json()) as { data: { version: number }[] };
    const policyVersion = policies.data.at(-1)?.version ?? 0;
    // The other views, for the screenshots (and a look that each renders without an error).
    for (const [path, name, ready] of [
      ['/', 'overview', 'every chain verified'],
      ['/agents', 'agents', 'invoice-processor-v2'],
      ['/agents/invoice-processor-v2', 'agent', 'Findings'],
      ['/evidence?agent_id=invoice-processor-v2', 'evidence', 'records checked'],
      [`/policies?a=${policyVersion}&b=${policyVersion}`, 'policies', 'Active version'],
      ['/keys', 'keys', 'e2e-reader'],
    ] as const) {
      await page.goto(`${base}/console${path}`);
      await page.getByText(ready).first().waitFor();
      if (name === 'agent') {
        // The call rate against its band, drawn (a canvas) and summed up in text for screen readers.
        await page.getByTestId('rate-chart').locator('canvas').first().waitFor();
        expect(await page.getByTestId('rate-summary').textContent()).toMatch(/usual band/);
      }
      if (name === 'evidence')
        // The browser's own recomputation of every link agrees with the server's verify-chain.
        expect(await page.getByTestId('browser-verdict').textContent()).toContain('agrees with the server');
      await shoot(name);
    }

    // A second held call, then a read-only key: no approve button, and the API refuses when forced.
    const second = agentIn('e2e-session-2')
      .tools.wire_funds('FR76-3000', 10)
      .catch(() => 'ended');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key or admin token').waitFor();
    await signIn(keys.reader);
    await page.goto(`${base}/console/approvals`);
    const readerRow = page.getByTestId('approval-row').filter({ hasText: 'wire_funds' });
    await readerRow.first().waitFor();
    await readerRow.first().getByRole('button').click();
    await page.getByText('Deciding a step-up needs').waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'Keys' }).count()).toBe(0);
    const readerCookie = (await context.cookies(base)).find((c) => c.name === 'thoth_console')?.value ?? '';
    const state = (await (
      await fetch(`${base}/console/api/session`, { headers: { cookie: `thoth_console=${readerCookie}` } })
    ).json()) as { csrf_token: string };
    const list = (await (
      await fetch(`${base}/${TENANT}/thoth/approvals?status=pending`, {
        headers: { cookie: `thoth_console=${readerCookie}` },
      })
    ).json()) as { data: { id: string }[] };
    const forced = await fetch(`${base}/${TENANT}/thoth/approvals/${list.data[0]?.id}/resolve`, {
      method: 'POST',
      headers: {
        cookie: `thoth_console=${readerCookie}`,
        'x-csrf-token': state.csrf_token,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ decision: 'approve' }),
    });
    expect(forced.status).toBe(403);
    void second;

    expect(browserErrors, browserErrors.join('\n')).toEqual([]);
  }, 150_000);
});
