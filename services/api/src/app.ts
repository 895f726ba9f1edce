import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import {
  type ErrorBody,
  errorResponses,
  healthReadySchema,
  healthStartingSchema,
  openApiDocumentSchema,
} from '@thoth/contracts';
import type { Logger } from '@thoth/platform';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifySchema,
  LogController,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { clientErrorCode, HttpError } from './http/http-error.ts';
import { parseJsonBodyThen } from './http/json-body.ts';
import { type ResponseMismatch, validateResponses } from './http/response-validation.ts';
import { type ApprovalRouteDeps, approvalRoutes } from './routes/approval-routes.ts';
import { type BaselineRouteDeps, baselineRoutes } from './routes/baseline-routes.ts';
import { type ConsoleRouteDeps, consoleRoutes } from './routes/console-routes.ts';
import { type EnforceRouteDeps, enforceRoutes } from './routes/enforce-routes.ts';
import { type IngestRouteDeps, ingestRoutes } from './routes/ingest-routes.ts';
import { type KeyRouteDeps, keyRoutes } from './routes/key-routes.ts';
import { type PolicyRouteDeps, policyRoutes } from './routes/policy-routes.ts';
import { type SocRouteDeps, socRoutes } from './routes/soc-routes.ts';

export interface AppDeps
  extends EnforceRouteDeps,
    IngestRouteDeps,
    KeyRouteDeps,
    SocRouteDeps,
    ApprovalRouteDeps,
    PolicyRouteDeps,
    BaselineRouteDeps,
    ConsoleRouteDeps {
  log: Logger;
  bodyLimitBytes: number;
  /**
   * The proxies in front of the API whose X-Forwarded-For / -Proto it believes (THOTH_TRUST_PROXY): the client's
   * address (per-address sign-in limits) and https (secure cookies) as the proxy saw them. Default: none.
   */
  trustProxy?: boolean | string[];
  /** /healthz answers 200 only once this is true (migrations ran, consumers subscribed). */
  isReady: () => boolean;
  /**
   * Tests only: check every response against its route's declared schemas (http/response-validation.ts); a
   * mismatch is reported here and answered as a 500.
   */
  onResponseMismatch?: (mismatch: ResponseMismatch) => void;
}

export interface RouteEntry {
  method: string;
  url: string;
  /** As declared: request and response schemas (tests check that every route declares its answers). */
  schema: FastifySchema | undefined;
}
const routeTables = new WeakMap<FastifyInstance, RouteEntry[]>();

/** Every route of an app built by `buildApp`, as registered (the isolation test enumerates them). */
export function registeredRoutes(app: FastifyInstance): readonly RouteEntry[] {
  return routeTables.get(app) ?? [];
}

/** The documentation UI's own routes (@fastify/swagger-ui): not ours, and not in the document. */
export const isDocumentationRoute = (url: string) => url === '/docs' || url.startsWith('/docs/');

/**
 * The HTTP API as one Fastify instance; `services/thoth` starts it. Tests build it and use `inject()`.
 * Hardening is explicit: body limit, request/keep-alive timeouts, one error shape, no 5xx for bad input.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.log as FastifyBaseLogger,
    // Per-request logs would cost more than the enforce decision itself; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    // Fastify's default gives each request a pino child bound to its id, and pino applies the redaction paths
    // to every child's bindings: a measurable share of an enforce call, for logs written only on errors. The
    // one per-request log line of ours (an unhandled error, below) names the request id itself; fastify's own
    // rare warnings about a request (e.g. a reply sent twice) go out without it.
    childLoggerFactory: (logger) => logger,
    bodyLimit: deps.bodyLimitBytes,
    requestTimeout: 30_000,
    connectionTimeout: 60_000,
    // Longer than the usual 60 s idle timeout of load balancers, so they close first (no reset races).
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    trustProxy: deps.trustProxy ?? false,
    routerOptions: { maxParamLength: 512 },
    // Errors fastify raises before a route runs (a malformed URL, a too long parameter) get our shape too.
    frameworkErrors: (error, _request, reply) => {
      const status = error.statusCode && error.statusCode < 500 ? error.statusCode : 400;
      const body: ErrorBody = { error: clientErrorCode(error.code, status), message: error.message };
      (reply as unknown as { code(n: number): { send(b: ErrorBody): void } }).code(status).send(body);
    },
  }).withTypeProvider<ZodTypeProvider>();

  const routes: RouteEntry[] = [];
  routeTables.set(app as unknown as FastifyInstance, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) routes.push({ method, url: route.url, schema: route.schema });
  });

  app.setValidatorCompiler(validatorCompiler);
  // The response schemas document the API (/docs/json) and tests check every answer against them
  // (onResponseMismatch). Answers are written as before they were declared, with JSON.stringify: the zod
  // serializer would validate each one first, which costs the enforce path more than the stringify itself.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  if (deps.onResponseMismatch)
    validateResponses(app as unknown as FastifyInstance, {
      onMismatch: deps.onResponseMismatch,
      skip: isDocumentationRoute,
    });

  // One JSON parser for every body (bounded depth, finite numbers). Be liberal in what we accept: a JSON body
  // sent without, or with another, content type is still JSON.
  // A large body is scanned in slices with the event loop free between them; a small one is answered at once
  // (parseJsonBodyThen).
  const parseBody = (
    _request: unknown,
    body: string | Buffer,
    done: (error: Error | null, value?: unknown) => void,
  ) => parseJsonBodyThen(typeof body === 'string' ? body : body.toString('utf8'), done);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, parseBody);
  app.addContentTypeParser('*', { parseAs: 'string' }, parseBody);
  // Node answers `Expect:` headers it does not support itself; keep the error shape there too.
  app.server.on('checkExpectation', (_request, response) => {
    response.writeHead(417, { 'content-type': 'application/json; charset=utf-8' });
    response.end(JSON.stringify({ error: 'expectation_failed', message: 'unsupported Expect header' }));
  });

  app.setErrorHandler((error, request, reply) => {
    const send = (
      status: number,
      body: ErrorBody & Record<string, unknown>,
      headers: Record<string, string> = {},
    ) => reply.code(status).headers(headers).send(body);
    if (error instanceof HttpError) {
      const extra = 'rejected' in error ? { rejected: (error as { rejected: unknown }).rejected } : {};
      return send(error.statusCode, { error: error.code, message: error.message, ...extra }, error.headers);
    }
    if (hasZodFastifySchemaValidationErrors(error)) {
      const message = error.validation
        .map((v) => {
          const field = `${error.validationContext ?? 'body'}${v.instancePath.replaceAll('/', '.')}`;
          return `${field}: ${v.message}`;
        })
        .join('; ');
      return send(400, { error: 'invalid_request', message });
    }
    const status = (error as { statusCode?: number }).statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const code = (error as { code?: string }).code;
      return send(status, { error: clientErrorCode(code, status), message: (error as Error).message });
    }
    request.log.error({ err: error, reqId: request.id, url: request.url }, 'unhandled error');
    return send(500, { error: 'internal', message: 'internal server error' });
  });

  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Thoth API',
        version: '0.1.0',
        description: 'Runtime governance for AI agents. Wire contract: docs/protocol.md.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Readiness: 200 once migrations ran and consumers subscribed, 503 before',
        tags: ['health'],
        security: [],
        response: {
          200: healthReadySchema.describe('ready'),
          503: healthStartingSchema,
          ...errorResponses(500),
        },
      },
    },
    async (_request, reply) => {
      if (!deps.isReady()) return reply.code(503).send({ status: 'starting' });
      return { status: 'ok' as const };
    },
  );
  app.get(
    '/openapi.json',
    {
      schema: {
        hide: true,
        response: { 200: openApiDocumentSchema.describe('this document'), ...errorResponses(500) },
      },
    },
    async () => app.swagger() as unknown as Record<string, unknown>,
  );

  // First: its hook lets a console session cookie authenticate every route registered after it.
  await app.register(consoleRoutes(deps));
  await app.register(enforceRoutes(deps));
  await app.register(ingestRoutes(deps));
  await app.register(keyRoutes(deps));
  await app.register(socRoutes(deps));
  await app.register(approvalRoutes(deps));
  await app.register(policyRoutes(deps));
  await app.register(baselineRoutes(deps));
  return app;
}
