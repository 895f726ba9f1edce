import { z } from 'zod';

/**
 * The one error shape of the API, whatever the route (docs/protocol.md §Errors): a stable machine code and a
 * sentence for people. Some errors add fields (ingest's `rejected`: see ingest.ts).
 */
export const errorBodySchema = z.object({
  error: z.string().describe('a stable machine code, e.g. invalid_request, unauthorized, not_found'),
  message: z.string().describe('a sentence for people; clients read it as a string and nothing more'),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The error body described for one status of one route (the description is the OpenAPI response's). */
export function errorResponse(description: string) {
  return errorBodySchema.describe(description);
}

/** What each error status means across the API; a route names its own 404, 409 and 503 when they differ. */
const ERROR_DESCRIPTIONS = {
  400:
    'invalid_request: the body, query or path fails validation (the message names each failing field); ' +
    'invalid_json: the body is not JSON, is nested too deep, or holds a number too large to represent; ' +
    'bad_request: a malformed URL',
  401: 'unauthorized: the API key is missing, unknown, expired or revoked, or its tenant is disabled',
  403:
    'forbidden: the key lacks the permission; tenant_mismatch / agent_mismatch: it names another tenant or ' +
    'agent; csrf_failed: a console mutation without its session’s X-CSRF-Token',
  404: 'not_found',
  409: 'conflict',
  413: 'body_too_large: the body is over THOTH_BODY_LIMIT_BYTES; payload_too_large: over the member or value limits',
  414: 'bad_request: a path parameter is over 512 characters (refused before the route runs)',
  415: 'unsupported_media_type: the Content-Type header does not parse as one media type (empty, `;;;`, a list)',
  429: 'rate_limited: the key’s or its tenant’s rate limit is exhausted; Retry-After gives the seconds to wait',
  500: 'internal: a server fault (logged; never caused by input)',
  502: 'idp_unavailable: the tenant’s identity provider could not be reached or its discovery document read',
  503: 'store_unavailable: this process has no audit-trail store',
} as const;
export type ErrorStatus = keyof typeof ERROR_DESCRIPTIONS;

/** The error bodies of `statuses`, with their usual descriptions, for a route's `schema.response`. */
export function errorResponses<S extends ErrorStatus>(
  ...statuses: S[]
): Record<S, ReturnType<typeof errorResponse>> {
  const responses = {} as Record<S, ReturnType<typeof errorResponse>>;
  for (const status of statuses) responses[status] = errorResponse(ERROR_DESCRIPTIONS[status]);
  return responses;
}
