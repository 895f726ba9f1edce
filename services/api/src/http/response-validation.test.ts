import Fastify, { type FastifySchema } from 'fastify';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type ResponseMismatch, responseMismatch, validateResponses } from './response-validation.ts';

const item = z.object({ id: z.string(), count: z.int() });
const errorBody = z.object({ error: z.string(), message: z.string() });
const JSON_TYPE = 'application/json; charset=utf-8';

describe('responseMismatch', () => {
  const declared = { 200: item, 404: errorBody };

  it('accepts a body that keeps to its status’s schema', () => {
    expect(responseMismatch(declared, 200, JSON_TYPE, '{"id":"a","count":1}')).toBeUndefined();
    expect(
      responseMismatch(declared, 404, JSON_TYPE, '{"error":"not_found","message":"no a"}'),
    ).toBeUndefined();
  });

  it('catches a wrong body, naming the field', () => {
    expect(responseMismatch(declared, 200, JSON_TYPE, '{"id":"a","count":1.5}')).toMatch(
      /breaks the schema of status 200.*count/s,
    );
    expect(responseMismatch(declared, 200, JSON_TYPE, '{"id":"a"}')).toMatch(/count/);
  });

  it('catches a field the schema does not declare', () => {
    expect(responseMismatch(declared, 200, JSON_TYPE, '{"id":"a","count":1,"secret":"x"}')).toMatch(
      /does not declare: body\.secret \(undeclared\)/,
    );
  });

  it('catches an undeclared status, and a route that declares nothing', () => {
    expect(responseMismatch(declared, 409, JSON_TYPE, '{"error":"conflict","message":"x"}')).toBe(
      'status 409 is not declared (declared: 200, 404)',
    );
    expect(responseMismatch(undefined, 200, JSON_TYPE, '{}')).toBe('the route declares no response schemas');
  });

  it('checks the content type of a non-JSON response, and the absence of a body', () => {
    const files = {
      200: { content: { 'text/*': { schema: z.string() } } },
      204: z.undefined(),
    };
    expect(responseMismatch(files, 200, 'text/css; charset=utf-8', 'body{}')).toBeUndefined();
    expect(responseMismatch(files, 200, 'image/png', Buffer.from([1]))).toBe(
      'content type image/png is not declared for status 200',
    );
    expect(responseMismatch(files, 204, undefined, undefined)).toBeUndefined();
    expect(responseMismatch(files, 204, JSON_TYPE, '{}')).toMatch(/breaks the schema of status 204/);
  });
});

describe('validateResponses', () => {
  it('reports a wrong body and an undeclared status, and answers them as a 500', async () => {
    const app = Fastify();
    // The schemas are zod's: written as the app writes them (JSON.stringify), checked by the hook alone.
    app.setSerializerCompiler(() => (data) => JSON.stringify(data));
    const mismatches: ResponseMismatch[] = [];
    validateResponses(app, { onMismatch: (m) => mismatches.push(m), skip: (url) => url === '/skipped' });
    const schema: FastifySchema = { response: { 200: item } };
    app.get('/right', { schema }, async () => ({ id: 'a', count: 1 }));
    app.get('/wrong', { schema }, async () => ({ id: 'a', count: 'one' }));
    app.get('/teapot', { schema }, async (_request, reply) => reply.code(418).send({ id: 'a', count: 1 }));
    app.get('/skipped', async () => ({ anything: true }));

    expect((await app.inject({ method: 'GET', url: '/right' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/skipped' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
    expect(mismatches).toEqual([]);

    const wrong = await app.inject({ method: 'GET', url: '/wrong' });
    expect(wrong.statusCode).toBe(500);
    expect(wrong.json()).toMatchObject({ error: 'response_mismatch' });
    expect(wrong.json().message).toMatch(/^GET \/wrong answered 200: the body breaks the schema/);
    const teapot = await app.inject({ method: 'GET', url: '/teapot' });
    expect(teapot.statusCode).toBe(500);
    expect(mismatches).toEqual([
      expect.objectContaining({ method: 'GET', route: '/wrong', status: 200 }),
      { method: 'GET', route: '/teapot', status: 418, problem: 'status 418 is not declared (declared: 200)' },
    ]);
    await app.close();
  });
});
