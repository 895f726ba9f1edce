import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isDocumentationRoute, type RouteEntry, registeredRoutes } from '../services/api/src/app.ts';
import { startTestApi, type TestApi } from './api-harness.ts';

/**
 * Every route declares what it answers, a success and the errors it can give, as zod schemas: the OpenAPI
 * document (/docs/json) is generated from them, and the harness checks every answer of the integration tests
 * against them (test/api-harness.ts). Routes are enumerated from fastify (the app's onRoute hook), so a route
 * added later without its answers makes this test fail, naming it.
 */

/** Routes anyone may call: no API key, so no 401 or 403 to declare. */
const PUBLIC = new Set([
  '/healthz',
  '/openapi.json',
  '/v1/keys/receipt',
  '/console',
  '/console/*',
  '/console/api/session',
  '/console/api/sso',
  '/console/api/sso/start',
  '/console/api/sso/callback',
  '/console/api/sso/cli',
  '/console/api/sso/id-token',
]);
/**
 * Methods whose body the server parses: a malformed one is a 400, an oversized one a 413, one whose Content-Type
 * is no media type a 415.
 */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** What each route lacks of the answers it must declare, one sentence per problem, naming the route. */
function responseDeclarationProblems(routes: readonly RouteEntry[]): string[] {
  const problems: string[] = [];
  for (const { method, url, schema } of routes) {
    if (isDocumentationRoute(url)) continue; // the documentation UI's own routes
    const name = `${method} ${url}`;
    const response = schema?.response as Record<string, unknown> | undefined;
    if (!response) {
      problems.push(`${name}: declares no response schemas`);
      continue;
    }
    const statuses = Object.keys(response).map(Number);
    if (!statuses.some((s) => s >= 200 && s < 400)) problems.push(`${name}: declares no success status`);
    const needed = new Map<number, string[]>();
    const needs = (status: number, why: string) => needed.set(status, [...(needed.get(status) ?? []), why]);
    needs(500, 'any route can fault');
    if (schema?.params || schema?.querystring || schema?.body) needs(400, 'it validates its request');
    if (url.includes('/:')) needs(414, 'a path parameter can be over the router’s limit');
    if (WITH_BODY.has(method)) {
      needs(400, 'it parses a body');
      needs(413, 'it parses a body');
      needs(415, 'it parses a body');
    }
    if (!PUBLIC.has(url)) {
      needs(401, 'it authenticates');
      if (method !== 'GET' && method !== 'HEAD') needs(403, 'a mutation: permissions, CSRF');
    }
    for (const [status, why] of needed)
      if (!statuses.includes(status))
        problems.push(`${name}: does not declare ${status} (${why.join('; ')})`);
  }
  return problems;
}

let api: TestApi;
beforeAll(async () => {
  api = await startTestApi();
});
afterAll(async () => {
  await api?.close();
});

describe('declared responses', () => {
  it('every route declares its success and the errors it must be able to give', () => {
    const routes = registeredRoutes(api.service.app);
    expect(routes.length).toBeGreaterThanOrEqual(40);
    expect(responseDeclarationProblems(routes)).toEqual([]);
  });

  it('names the route that lacks them', () => {
    const route = (method: string, url: string, schema: RouteEntry['schema']): RouteEntry => ({
      method,
      url,
      schema,
    });
    expect(
      responseDeclarationProblems([
        route('GET', '/v1/undeclared', { querystring: {} }),
        route('POST', '/v1/half', { body: {}, response: { 200: {}, 401: {}, 403: {}, 500: {} } }),
        route('GET', '/docs/json', undefined),
      ]),
    ).toEqual([
      'GET /v1/undeclared: declares no response schemas',
      'POST /v1/half: does not declare 400 (it validates its request; it parses a body)',
      'POST /v1/half: does not declare 413 (it parses a body)',
      'POST /v1/half: does not declare 415 (it parses a body)',
    ]);
  });

  it('the harness really checks: an answer that breaks its declaration is a 500 and a recorded mismatch', async () => {
    const other = await startTestApi();
    const health = registeredRoutes(other.service.app).find(
      (r) => r.method === 'GET' && r.url === '/healthz',
    );
    const response = health?.schema?.response as Record<number, unknown>;
    const declared = response[200];
    // The hook reads the route's schema at request time: a declaration the real answer breaks.
    response[200] = z.object({ status: z.literal('nope') });
    try {
      const answer = await other.inject({ method: 'GET', url: '/healthz' });
      expect(answer.statusCode).toBe(500);
      expect(answer.json()).toMatchObject({ error: 'response_mismatch' });
      expect(other.responseMismatches).toHaveLength(1);
      expect(other.responseMismatches[0]).toMatchObject({ method: 'GET', route: '/healthz', status: 200 });
    } finally {
      response[200] = declared;
      other.responseMismatches.length = 0;
      await other.close();
    }
  });

  it('the harness fails the run when an answer broke its declaration', async () => {
    const other = await startTestApi();
    other.responseMismatches.push({ method: 'GET', route: '/v1/x', status: 418, problem: 'not declared' });
    await expect(other.close()).rejects.toThrow(/GET \/v1\/x answered 418: not declared/);
  });

  it('the OpenAPI document shows every operation’s answers, each described', async () => {
    type Response = { description: string; content?: Record<string, { schema: { required?: string[] } }> };
    const document = (await api.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, { responses: Record<string, Response> }>>;
    };
    const operations = Object.entries(document.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({ name: `${method} ${path}`, operation })),
    );
    expect(operations.length).toBeGreaterThanOrEqual(35);
    const undescribed = operations.flatMap(({ name, operation }) =>
      Object.entries(operation.responses)
        .filter(([, response]) => !response.description || response.description === 'Default Response')
        .map(([status]) => `${name} ${status}`),
    );
    expect(undescribed).toEqual([]);
    // The enforce answer, as the SDKs read it.
    const enforce = document.paths['/v1/enforce']?.post?.responses ?? {};
    expect(Object.keys(enforce)).toEqual(['200', '400', '401', '403', '413', '415', '429', '500']);
    expect(enforce['200']?.content?.['application/json']?.schema.required).toEqual(
      expect.arrayContaining(['decision', 'authorization_decision', 'risk_score', 'receipt']),
    );
  });
});
