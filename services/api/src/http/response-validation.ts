import { isDeepStrictEqual } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';

/**
 * Checks every response against what its route declares in `schema.response` (the schemas the OpenAPI document
 * is generated from). Tests turn it on (AppDeps.onResponseMismatch): production writes responses without it.
 */

/** A response its route does not declare: a body that breaks the status's schema, or an undeclared status. */
export interface ResponseMismatch {
  method: string;
  /** The route's pattern, e.g. `/:tenant/thoth/approvals/:id`. */
  route: string;
  status: number;
  problem: string;
}

/** What a route declares for one status: a zod schema of a JSON body, or schemas by content type. */
type DeclaredResponse = z.ZodType | { content: Record<string, { schema: z.ZodType }> };

const isContentMap = (declared: unknown): declared is { content: Record<string, { schema: z.ZodType }> } =>
  typeof declared === 'object' && declared !== null && 'content' in declared;

/** `type/subtype` of a Content-Type header, lower case, without parameters. */
const mediaTypeOf = (contentType: unknown): string | undefined =>
  typeof contentType === 'string' ? contentType.split(';')[0]!.trim().toLowerCase() : undefined;

/** Whether `mediaType` falls under a declared media range (`text/html`, `text/*`, `*\/*`). */
function mediaMatches(range: string, mediaType: string): boolean {
  if (range === '*/*' || range === mediaType) return true;
  return range.endsWith('/*') && mediaType.startsWith(range.slice(0, -1));
}

/**
 * Why a response breaks its route's declaration, or undefined when it keeps to it. `payload` is what goes on the
 * wire (serialized JSON text, a Buffer, or nothing). A JSON body must parse under the status's schema *and* come
 * out unchanged: a field the schema does not declare (which the parse strips) is a mismatch too, since the
 * OpenAPI document says there is none.
 */
export function responseMismatch(
  declared: Record<string, DeclaredResponse> | undefined,
  status: number,
  contentType: unknown,
  payload: unknown,
): string | undefined {
  if (declared === undefined) return 'the route declares no response schemas';
  const forStatus = declared[String(status)];
  if (forStatus === undefined)
    return `status ${status} is not declared (declared: ${Object.keys(declared).join(', ')})`;
  const empty = payload === undefined || payload === null || payload === '';
  const mediaType = mediaTypeOf(contentType);
  if (isContentMap(forStatus)) {
    const range = Object.keys(forStatus.content).find((r) => mediaType && mediaMatches(r, mediaType));
    if (range === undefined)
      return `content type ${mediaType ?? '(none)'} is not declared for status ${status}`;
    // A file or a stream (a console file may well be JSON): its type is what the declaration can say about it.
    return undefined;
  }
  const schema: z.ZodType = forStatus;
  if (!empty && mediaType !== 'application/json')
    return `a ${mediaType ?? 'untyped'} body where status ${status} declares JSON`;
  if (!empty && typeof payload !== 'string' && !Buffer.isBuffer(payload)) return undefined; // a stream
  let body: unknown;
  try {
    body = empty ? undefined : JSON.parse(String(payload));
  } catch {
    return 'the body is not JSON';
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success)
    return `the body breaks the schema of status ${status}: ${z.prettifyError(parsed.error)}`;
  if (!isDeepStrictEqual(parsed.data, body))
    return `the body has what the schema of status ${status} does not declare: ${firstDifference(body, parsed.data, 'body')}`;
  return undefined;
}

/** Where `sent` first differs from `declared` (what the schema kept of it), as a path. */
function firstDifference(sent: unknown, declared: unknown, path: string): string {
  if (sent !== null && typeof sent === 'object' && declared !== null && typeof declared === 'object') {
    for (const key of Object.keys(sent)) {
      const a = (sent as Record<string, unknown>)[key];
      const b = (declared as Record<string, unknown>)[key];
      if (!(key in declared)) return `${path}.${key} (undeclared)`;
      if (!isDeepStrictEqual(a, b)) return firstDifference(a, b, `${path}.${key}`);
    }
  }
  return `${path} (changed by the schema)`;
}

/**
 * Checks each response of `app` as it is sent (an onSend hook: registered before the routes, it sees them all).
 * A mismatch is reported to `onMismatch` and the response becomes a 500 `response_mismatch` naming it, so the
 * test that asked fails where it asked. `skip`: routes that are not ours (the documentation UI's).
 */
export function validateResponses(
  app: FastifyInstance,
  options: { onMismatch: (mismatch: ResponseMismatch) => void; skip: (route: string) => boolean },
): void {
  app.addHook('onSend', async (request, reply, payload) => {
    const route = request.routeOptions.url;
    // The not-found handler answers requests no route matched.
    if (request.is404 || route === undefined || options.skip(route)) return payload;
    const problem = responseMismatch(
      request.routeOptions.schema?.response as Record<string, DeclaredResponse> | undefined,
      reply.statusCode,
      reply.getHeader('content-type'),
      payload,
    );
    if (problem === undefined) return payload;
    const mismatch = { method: request.method, route, status: reply.statusCode, problem };
    options.onMismatch(mismatch);
    reply.code(500).type('application/json; charset=utf-8');
    return JSON.stringify({ error: 'response_mismatch', message: describeMismatch(mismatch) });
  });
}

export function describeMismatch(m: ResponseMismatch): string {
  return `${m.method} ${m.route} answered ${m.status}: ${m.problem}`;
}
