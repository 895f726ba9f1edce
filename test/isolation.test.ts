import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registeredRoutes } from '../services/api/src/app.ts';
import { enforceBody } from './api-harness.ts';
import { waitFor } from './helpers.ts';
import { ADMIN_TOKEN, startTrailApi, type TrailApi } from './trail-harness.ts';

/**
 * Tenant isolation over every route the app registers (enumerated from fastify, so routes added later are
 * covered or make this test fail), and auth headers that are malformed, oversized or brute-forced.
 */
const A = 'acme-corp';
const B = 'beta-corp';
const MARK = 'acme-private-7f3c'; // in everything tenant A owns; must never reach tenant B
const A_AGENT = 'agent-of-a'; // ids are echoed back in 404 messages: the mark is in A's data only
const A_SESSION = 'session-of-a';

let api: TrailApi;
let bKey = '';
let aHold = '';
type Json = Record<string, unknown>;

/** Public routes: no tenant data behind them (documentation, health, receipt public keys). */
const PUBLIC = new Set(['/healthz', '/openapi.json', '/v1/keys/receipt']);
const isPublic = (url: string) => PUBLIC.has(url) || url === '/docs' || url.startsWith('/docs/');

beforeAll(async () => {
  api = await startTrailApi();
  const created = await api.inject({
    method: 'POST',
    url: `/${B}/thoth/api-keys`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: { name: 'b-everything', permissions: ['execute', 'write', 'read', 'admin'] },
  });
  bKey = (created.json() as Json).api_key as string;
  const asA = { authorization: `Bearer ${api.key}` };
  // Tenant A's data: a policy, a key, decisions (one held), events.
  await api.inject({
    method: 'POST',
    url: `/${A}/thoth/policies`,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    payload: {
      policy: {
        rules: [{ id: `hold-${MARK}`, condition: 'tool == "wire"', effect: 'STEP_UP', reason: MARK }],
      },
      comment: MARK,
    },
  });
  for (const tool of ['search_docs', 'wire']) {
    const r = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: asA,
      payload: enforceBody({ agent_id: A_AGENT, session_id: A_SESSION, tool_name: tool, approved_scope: [] }),
    });
    if (tool === 'wire') aHold = (r.json() as Json).hold_token as string;
  }
  await api.inject({
    method: 'POST',
    url: '/v1/events/batch',
    headers: asA,
    payload: [
      {
        agent_id: A_AGENT,
        session_id: A_SESSION,
        event_type: 'TOOL_CALL_PRE',
        tool_name: 'search_docs',
        content: MARK,
      },
    ],
  });
  await waitFor('tenant A in the trail', async () => {
    const [row] = await api.store.select<{ n: number | string }>(
      `SELECT count() AS n FROM events WHERE tenant_id = '${A}' AND agent_id = '${A_AGENT}'`,
    );
    return Number(row?.n) >= 3;
  });
  expect(aHold).toMatch(/.+/);
});
afterAll(async () => {
  await api?.close();
});

/** A concrete URL for a route pattern, with tenant `tenant` and tenant A's ids; throws on an unknown parameter. */
function urlFor(pattern: string, tenant: string): string {
  const path = pattern.replace(/:([A-Za-z_]+)/g, (_, name: string, offset: number) => {
    const before = pattern.slice(0, offset);
    if (name === 'tenant') return tenant;
    if (name === 'token') return aHold;
    if (name === 'version') return '1';
    if (name === 'id' && before.endsWith('/sessions/')) return A_SESSION;
    if (name === 'id' && before.endsWith('/agents/')) return A_AGENT;
    if (name === 'id' && before.endsWith('/approvals/')) return 'apr_unknown';
    if (name === 'key_id') return 'key_unknown';
    throw new Error(`the isolation test does not know how to exercise :${name} in ${pattern}: teach it`);
  });
  return `${path}?agent_id=${A_AGENT}`;
}

const as = (key: string) => ({ authorization: `Bearer ${key}` });

describe('tenant isolation over every route', () => {
  it('a key of tenant B reads nothing of tenant A through any GET route', async () => {
    const gets = registeredRoutes(api.service.app).filter((r) => r.method === 'GET' && !isPublic(r.url));
    expect(gets.length).toBeGreaterThanOrEqual(10);
    const exercised: string[] = [];
    for (const route of gets) {
      if (route.url === '/v1/stream') continue; // a stream: exercised over a socket below
      if (
        !route.url.startsWith('/:tenant/') &&
        !route.url.startsWith('/v1/') &&
        !route.url.startsWith('/thoth/') &&
        !route.url.startsWith('/console') // the console's files and its own session: no tenant data
      )
        throw new Error(`GET ${route.url}: the isolation test does not know this route: teach it`);
      // Tenant A's path with B's key: refused outright.
      if (route.url.startsWith('/:tenant/')) {
        const onA = await api.inject({ method: 'GET', url: urlFor(route.url, A), headers: as(bKey) });
        expect([401, 403], `GET ${route.url} on tenant A with B's key`).toContain(onA.statusCode);
        expect(onA.body).not.toContain(MARK);
      }
      // B's own path (or a tenant-less route) asked for A's ids: nothing of A.
      const onB = await api.inject({ method: 'GET', url: urlFor(route.url, B), headers: as(bKey) });
      expect(onB.statusCode, `GET ${route.url} as B`).toBeLessThan(500);
      expect(onB.body, `GET ${route.url} as B`).not.toContain(MARK);
      // And tenant A's own key does see its data there, so the check above can fail.
      exercised.push(route.url);
    }
    console.log(`[isolation] ${exercised.length} GET routes exercised: ${exercised.join(', ')}`);
    // Sanity: A itself sees its data through the feed, forensics and the hold.
    for (const url of [
      `/${A}/thoth/governance/feed`,
      `/${A}/thoth/sessions/${A_SESSION}/forensics`,
      `/v1/enforce/hold/${aHold}`,
    ]) {
      const own = await api.inject({ method: 'GET', url, headers: as(api.key) });
      expect(own.statusCode, url).toBe(200);
    }
    expect(
      (await api.inject({ method: 'GET', url: `/${A}/thoth/governance/feed`, headers: as(api.key) })).body,
    ).toContain(MARK);
  });

  it("every write route refuses tenant B's key on tenant A's path, and a body tenant_id of another tenant", async () => {
    const writes = registeredRoutes(api.service.app).filter(
      (r) =>
        r.method !== 'GET' && r.method !== 'HEAD' && r.method !== 'OPTIONS' && r.url.startsWith('/:tenant/'),
    );
    expect(writes.length).toBeGreaterThanOrEqual(5);
    for (const route of writes) {
      const r = await api.inject({
        method: route.method as 'POST',
        url: urlFor(route.url, A),
        headers: as(bKey),
        payload: {},
      });
      expect([400, 401, 403], `${route.method} ${route.url}`).toContain(r.statusCode);
    }
    const enforce = await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: as(bKey),
      payload: enforceBody({ tenant_id: A }),
    });
    expect(enforce.statusCode).toBe(403);
    const ingest = await api.inject({
      method: 'POST',
      url: '/v1/events/batch',
      headers: as(bKey),
      payload: [{ tenant_id: A, agent_id: 'x', session_id: 's', event_type: 'TOOL_CALL_PRE' }],
    });
    expect(ingest.statusCode).toBe(403);
  });

  it("a console session of tenant B reads and changes nothing of tenant A's through any tenant route", async () => {
    const signIn = await api.inject({
      method: 'POST',
      url: '/console/api/session',
      payload: { credential: bKey },
    });
    expect(signIn.statusCode).toBe(200);
    const cookie = String(signIn.headers['set-cookie']).split(';')[0] ?? '';
    const csrf = String((signIn.json() as Json).csrf_token);
    const tenantRoutes = registeredRoutes(api.service.app).filter(
      (r) => r.url.startsWith('/:tenant/') && r.method !== 'HEAD' && r.method !== 'OPTIONS',
    );
    expect(tenantRoutes.length).toBeGreaterThanOrEqual(15);
    for (const route of tenantRoutes) {
      const r = await api.inject({
        method: route.method as 'GET',
        url: urlFor(route.url, A),
        headers: { cookie, 'x-csrf-token': csrf },
        payload: route.method === 'GET' ? undefined : {},
      });
      expect([400, 401, 403], `${route.method} ${route.url} with B's console session`).toContain(
        r.statusCode,
      );
      expect(r.body).not.toContain(MARK);
    }
  });

  it('the live tail of tenant B carries nothing of tenant A', async () => {
    const address = await api.service.app.listen({ port: 0, host: '127.0.0.1' });
    const controller = new AbortController();
    const response = await fetch(`${address}/v1/stream`, { headers: as(bKey), signal: controller.signal });
    const reader = response.body!.getReader();
    let text = '';
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => undefined);
    await waitFor('connected', () => text.includes(': connected'), 5_000);
    await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: as(api.key),
      payload: enforceBody({ agent_id: A_AGENT }),
    });
    await api.inject({
      method: 'POST',
      url: '/v1/enforce',
      headers: as(bKey),
      payload: enforceBody({ tenant_id: B, agent_id: 'b-agent' }),
    });
    await waitFor("B's own decision on B's tail", () => text.includes('b-agent'), 5_000);
    controller.abort();
    await reading;
    expect(text).not.toContain(MARK);
  });
});

describe('auth headers never yield a 5xx', () => {
  it('malformed, oversized and brute-forced credentials on every route answer 4xx', async () => {
    const routes = registeredRoutes(api.service.app).filter(
      (r) => r.method !== 'HEAD' && r.url !== '/v1/stream',
    );
    const variants: Record<string, string>[] = [
      { authorization: '' },
      { authorization: 'Bearer' },
      { authorization: 'Bearer ' },
      { authorization: 'Basic dXNlcjpwYXNz' },
      { authorization: `Bearer ${'x'.repeat(8_000)}` },
      { authorization: 'Bearer thoth_live_\u0000\u0001\u0002' },
      { authorization: 'Bearer a b c' },
      { authorization: `Bearer ${api.key}x` },
      { authorization: api.key },
      { 'x-api-key': '' },
      { 'x-api-key': ' '.repeat(100) },
      { 'x-api-key': '%00%ff' },
      { 'x-api-key': `${api.key.slice(0, -1)}` },
      { 'x-api-key': `thoth_live_${'A'.repeat(10_000)}` },
    ];
    let checked = 0;
    for (const route of routes)
      for (const headers of variants) {
        const r = await api.inject({
          method: route.method as 'GET',
          url: urlFor(route.url, A),
          headers,
          payload: route.method === 'GET' ? undefined : {},
        });
        expect(
          r.statusCode,
          `${route.method} ${route.url} ${JSON.stringify(headers).slice(0, 80)}`,
        ).toBeLessThan(500);
        checked++;
      }
    // Brute force: random well-formed keys, as fast as they come.
    const statuses = new Map<number, number>();
    for (let i = 0; i < 2_000; i++) {
      const guess = `thoth_live_${randomBytes(32).toString('base64url')}`;
      const r = await api.inject({
        method: 'POST',
        url: '/v1/enforce',
        headers: { 'x-api-key': guess },
        payload: enforceBody(),
      });
      statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
    }
    expect([...statuses.keys()]).toEqual([401]);
    console.log(
      `[auth-fuzz] ${checked} malformed-header requests over ${routes.length} routes, 2000 guessed keys: all 4xx`,
    );
  });
});
