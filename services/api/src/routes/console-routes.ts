import {
  type ConsoleSessionView,
  cliSessionSchema,
  consoleFileParamsSchema,
  consoleFileSchema,
  consoleSessionSchema,
  consoleSessionStateSchema,
  errorResponse,
  errorResponses,
  evidenceLinksQuerySchema,
  evidenceLinksSchema,
  idTokenBodySchema,
  noBody,
  type Permission,
  signInBodySchema,
  ssoCliParametersSchema,
  ssoEnabledSchema,
  ssoTenantQuerySchema,
} from '@thoth/contracts';
import type { Store } from '@thoth/platform';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  CONSOLE_CSP,
  type ConsoleAsset,
  DEFAULT_CONSOLE_DIR,
  loadConsoleAssets,
} from '../console/console-assets.ts';
import {
  type ConsolePrincipal,
  type ConsoleSession,
  ConsoleSessions,
  CSRF_HEADER,
  cookieValue,
  csrfValid,
  isSafeMethod,
  SESSION_COOKIE,
  sessionCookie,
} from '../console/console-sessions.ts';
import type { OidcSignIn } from '../console/oidc-sign-in.ts';
import { SignInLimiter } from '../console/sign-in-limiter.ts';
import type { ControlState } from '../control/control-state.ts';
import { ADMIN_TOKEN_ACTOR, type Authenticator, actAsPerson, keyRefusal } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';
import type { PersonPrincipal, Role } from '../http/principal.ts';
import { requireStore, tenantReader } from '../http/tenant-reader.ts';
import { chainFieldsOf, EVENT_COLUMNS, type StoredEvent } from '../soc/audit-queries.ts';

export interface ConsoleRouteDeps {
  auth: Authenticator;
  control: ControlState;
  /** Injected by tests; a process keeps one store for its lifetime. */
  consoleSessions?: ConsoleSessions;
  /** Failed sign-ins per client IP and key prefix (injected by tests). */
  signInLimiter?: SignInLimiter;
  /** The audit trail: the console reads an agent's raw chain links from it to recompute them in the browser. */
  store: Pick<Store, 'select'> | undefined;
  /** The built console (default: the repository's console/dist). */
  consoleDir?: string;
  /** Single sign-on (THOTH_SSO_CONFIG); absent: sign-in with a key or the admin token only. */
  sso?: OidcSignIn;
}

const ALL_PERMISSIONS = ['execute', 'write', 'read', 'admin'] as const;
/** What a console session signed in with the admin token may do: everything a person at the console does. */
const OPERATOR_PERMISSIONS = ['read', 'admin'] as const;

/**
 * The permissions of the key minted for a signed-in person: roles beyond reading are checked on the person. No
 * person needs `execute` or `write`: those are agents' acts.
 */
const PERMISSIONS_OF_ROLE: Record<Role, Permission[]> = {
  viewer: ['read'],
  approver: ['read'],
  admin: ['read', 'admin'],
};

/** Binds a browser to the sign-in it started (the IdP's redirect back is a cross-site navigation: Lax). */
const SSO_STATE_COOKIE = 'thoth_sso_state';
const ssoStateCookie = (value: string, maxAgeSeconds: number, secure: boolean) =>
  [
    `${SSO_STATE_COOKIE}=${value}`,
    'Path=/console/api/sso',
    'HttpOnly',
    'SameSite=Lax',
    `Max-Age=${maxAgeSeconds}`,
    ...(secure ? ['Secure'] : []),
  ].join('; ');

/** What the console learns about its session: never the credential. */
const sessionView = (session: ConsoleSession): ConsoleSessionView => ({
  signed_in: true,
  tenant_id: session.principal.tenantId,
  method: session.principal.method,
  label: session.principal.label,
  permissions: [...session.principal.permissions],
  agent_id: session.principal.agentId,
  person: session.principal.person
    ? {
        issuer: session.principal.person.issuer,
        subject: session.principal.person.subject,
        email: session.principal.person.email,
        name: session.principal.person.name,
        groups: [...session.principal.person.groups],
        role: session.principal.person.role,
      }
    : null,
  csrf_token: session.csrfToken,
  expires_at: new Date(session.expiresAt).toISOString(),
});

/** The single sign-on errors of a route that talks to the tenant's identity provider. */
const ssoErrors = {
  ...errorResponses(502),
  404: errorResponse('not_found: single sign-on is not configured, or not for this tenant'),
};
/** A sign-in's answer to a non-JSON body: a form on another site cannot sign a browser in. */
const jsonOnly = errorResponse('unsupported_media_type: sign-in takes an application/json body');
const redirect = (to: string) => noBody(`a redirect (Location) to ${to}`);

const isConsoleUrl = (url: string) =>
  url === '/console' || url.startsWith('/console/') || url.startsWith('/console?');

/**
 * The SOC console: its session endpoints, its static files, and the hook that lets a console session call the
 * API. The hook is app-wide (fastify-plugin): on a request carrying the session cookie and no key of its own,
 * it checks the CSRF token (mutations) and presents the session's credential as the bearer key, so every route
 * authenticates and isolates a console user exactly as it does that key — including the live tail, which
 * re-checks the presented key while a stream stays open. Requests without a cookie (SDKs) pay one lookup.
 */
export const consoleRoutes = (deps: ConsoleRouteDeps) =>
  fp(
    (async (app) => {
      const sessions = deps.consoleSessions ?? new ConsoleSessions();
      const limiter = deps.signInLimiter ?? new SignInLimiter();
      const reader = tenantReader(deps.auth);
      const assets = loadConsoleAssets(deps.consoleDir ?? DEFAULT_CONSOLE_DIR);

      const sessionOf = (request: FastifyRequest): ConsoleSession | undefined => {
        const id = cookieValue(request.headers.cookie, SESSION_COOKIE);
        return id ? sessions.get(id) : undefined;
      };

      /** Ends a session, and revokes the key minted for it. */
      const endSession = async (id: string) => {
        const session = sessions.get(id);
        sessions.end(id);
        const minted = session?.principal.mintedKeyId;
        if (session && minted)
          await deps.control.commands.revokeApiKey(
            session.principal.tenantId,
            minted,
            session.principal.person ?? ADMIN_TOKEN_ACTOR,
          );
      };

      /** A session for a person the IdP signed in, with a key minted for it carrying the role's permissions. */
      const personSession = async (request: FastifyRequest, person: PersonPrincipal) => {
        const ttl = deps.sso?.config.sessionTtlMs ?? sessions.ttl;
        const minted = await deps.control.commands.createApiKey({
          tenantId: person.tenantId,
          name: `console session (${person.email ?? person.subject})`,
          permissions: PERMISSIONS_OF_ROLE[person.role],
          expiresAt: Date.now() + ttl,
          createdBy: person,
        });
        // A sign-in replaces the session this browser had (no fixation of an older id).
        const previous = cookieValue(request.headers.cookie, SESSION_COOKIE);
        if (previous) await endSession(previous);
        return sessions.create(
          {
            credential: minted.apiKey,
            method: 'sso',
            label: person.email ?? person.subject,
            tenantId: person.tenantId,
            permissions: PERMISSIONS_OF_ROLE[person.role],
            agentId: null,
            mintedKeyId: minted.record.key_id,
            person,
          },
          ttl,
        );
      };

      const requireSso = (): OidcSignIn => {
        if (!deps.sso)
          throw new HttpError(404, 'not_found', 'single sign-on is not configured (THOTH_SSO_CONFIG)');
        return deps.sso;
      };

      /** Who a credential signs in as; throws the HttpError the sign-in answers with. */
      const principalFor = async (
        credential: string,
        tenant: string | undefined,
      ): Promise<ConsolePrincipal> => {
        if (deps.auth.isAdminCredential(credential)) {
          if (!tenant)
            throw new HttpError(400, 'invalid_request', 'tenant: the admin token signs in to a tenant');
          if (!deps.control.projection.hasTenant(tenant))
            throw new HttpError(404, 'not_found', `no tenant ${tenant}`);
          // The token is no tenant key (the trail's reads take one): the session gets its own, recorded in the
          // admin audit, expiring with the session and revoked at sign-out. Read and admin only: a key that can
          // also execute or write may not approve (an agent's key could release its own calls).
          const minted = await deps.control.commands.createApiKey({
            tenantId: tenant,
            name: 'console session (admin token)',
            permissions: [...OPERATOR_PERMISSIONS],
            expiresAt: Date.now() + sessions.ttl,
            createdBy: ADMIN_TOKEN_ACTOR,
          });
          return {
            credential: minted.apiKey,
            method: 'admin-token',
            label: 'admin token',
            tenantId: tenant,
            permissions: OPERATOR_PERMISSIONS,
            agentId: null,
            mintedKeyId: minted.record.key_id,
          };
        } else {
          const refused = keyRefusal(deps.control, credential, Date.now());
          const identity = deps.control.projection.identify(credential);
          if (refused || !identity) throw new HttpError(401, 'unauthorized', refused ?? 'unknown API key');
          if (tenant !== undefined && tenant !== identity.tenantId)
            throw new HttpError(403, 'tenant_mismatch', 'this API key belongs to another tenant');
          return {
            credential,
            method: 'api-key',
            label: identity.name,
            tenantId: identity.tenantId,
            permissions: ALL_PERMISSIONS.filter((p) => identity.permissions.has(p)),
            agentId: identity.agentId,
            mintedKeyId: null,
          };
        }
      };

      app.addHook('onRequest', (request, _reply, done) => {
        if (request.headers.cookie === undefined || isConsoleUrl(request.url)) return done();
        // An explicit key wins: the request is not relying on ambient browser credentials.
        if (request.headers.authorization !== undefined || request.headers['x-api-key'] !== undefined)
          return done();
        const session = sessionOf(request);
        if (!session) return done(); // unknown or expired: the route answers 401 as for a missing key
        if (!isSafeMethod(request.method) && !csrfValid(session, request.headers[CSRF_HEADER])) {
          done(
            new HttpError(
              403,
              'csrf_failed',
              `a console mutation needs this session's ${CSRF_HEADER} header`,
            ),
          );
          return;
        }
        presentSessionKey(request, session);
        done();
      });

      app.get(
        '/console/api/sso',
        {
          schema: {
            summary: 'Whether single sign-on is configured (the console offers it then)',
            tags: ['console'],
            security: [],
            response: {
              200: ssoEnabledSchema.describe('whether single sign-on is configured'),
              ...errorResponses(500),
            },
          },
        },
        async () => ({ enabled: deps.sso !== undefined }),
      );

      app.get(
        '/console/api/sso/start',
        {
          schema: {
            summary:
              'Single sign-on: redirects the browser to the tenant’s identity provider (code flow with PKCE)',
            tags: ['console'],
            security: [],
            querystring: ssoTenantQuerySchema,
            response: {
              302: redirect('the identity provider'),
              ...errorResponses(400, 500),
              ...ssoErrors,
            },
          },
        },
        async (request, reply) => {
          const { authorizationUrl, state } = await requireSso().begin(request.query.tenant);
          reply.header('set-cookie', ssoStateCookie(state, 600, request.protocol === 'https'));
          reply.header('cache-control', 'no-store');
          return reply.redirect(authorizationUrl, 302);
        },
      );

      app.get(
        '/console/api/sso/callback',
        {
          schema: {
            summary: 'Single sign-on: the identity provider’s redirect back; opens a console session',
            description:
              'Exchanges the code (with the PKCE verifier), verifies the ID token (signature against the IdP’s ' +
              'keys, issuer, audience, expiry, nonce), maps the groups claim to a role in the tenant, and sets the ' +
              'session cookie. The browser never sees a token.',
            tags: ['console'],
            security: [],
            response: {
              302: redirect('the console, signed in'),
              ...errorResponses(500),
              400: errorResponse('invalid_request: unknown, expired or not this browser’s sign-in (state)'),
              401: errorResponse('unauthorized: the identity provider refused the sign-in, or its tokens'),
              403: errorResponse('forbidden: none of the person’s groups has a role in the tenant'),
              ...ssoErrors,
            },
          },
        },
        async (request, reply) => {
          const sso = requireSso();
          const person = await sso.complete(
            new URL(request.url, 'http://callback.invalid'),
            cookieValue(request.headers.cookie, SSO_STATE_COOKIE),
          );
          const session = await personSession(request, person);
          const maxAge = Math.floor((session.expiresAt - session.createdAt) / 1_000);
          const secure = request.protocol === 'https';
          reply.header('set-cookie', [
            sessionCookie(session.id, maxAge, secure),
            ssoStateCookie('', 0, secure),
          ]);
          reply.header('cache-control', 'no-store');
          return reply.redirect('/console/', 302);
        },
      );

      app.get(
        '/console/api/sso/cli',
        {
          schema: {
            summary: 'Single sign-on for the CLI: the IdP and public client `thoth login` uses (device code)',
            tags: ['console'],
            security: [],
            querystring: ssoTenantQuerySchema,
            response: {
              200: ssoCliParametersSchema.describe('the identity provider and public client of the CLI'),
              ...errorResponses(400, 500),
              404: errorResponse(
                'not_found: single sign-on is not configured for this tenant, or no CLI client',
              ),
            },
          },
        },
        async (request) => requireSso().cliParameters(request.query.tenant),
      );

      app.post(
        '/console/api/sso/id-token',
        {
          schema: {
            summary: 'Single sign-on for the CLI: exchanges a fresh ID token (device code) for a session',
            description:
              'The ID token must be signed by the tenant’s IdP, for the console’s or the CLI’s client, unexpired ' +
              'and at most five minutes old. Answers the session with `session_token` (the cookie value) for the CLI.',
            tags: ['console'],
            security: [],
            body: idTokenBodySchema,
            response: {
              200: cliSessionSchema.describe('a console session, and its token for the CLI'),
              ...errorResponses(400, 413, 500),
              401: errorResponse('unauthorized: the ID token is refused (signature, issuer, audience, age)'),
              403: errorResponse('forbidden: none of the person’s groups has a role in the tenant'),
              415: jsonOnly,
              ...ssoErrors,
            },
          },
        },
        async (request, reply) => {
          if (!request.headers['content-type']?.toLowerCase().startsWith('application/json'))
            throw new HttpError(415, 'unsupported_media_type', 'sign-in takes an application/json body');
          const person = await requireSso().exchange(request.body.tenant, request.body.id_token);
          const session = await personSession(request, person);
          reply.header('cache-control', 'no-store');
          return { ...sessionView(session), session_token: session.id };
        },
      );

      app.post(
        '/console/api/session',
        {
          schema: {
            summary: 'Console sign-in: exchange an API key or the admin token for a session cookie',
            description:
              'The credential stays on the server; the browser gets an HttpOnly, SameSite=Strict cookie (Secure ' +
              'on TLS) and a CSRF token to send as X-CSRF-Token on mutations. The admin token names a tenant.',
            tags: ['console'],
            security: [],
            body: signInBodySchema,
            response: {
              200: consoleSessionSchema.describe('signed in: the session (its cookie is set)'),
              ...errorResponses(400, 413, 500),
              401: errorResponse('unauthorized: the credential is no working API key or admin token'),
              403: errorResponse('tenant_mismatch: the key belongs to another tenant'),
              404: errorResponse('not_found: the admin token names a tenant that does not exist'),
              415: jsonOnly,
              429: errorResponse('rate_limited: too many failed sign-ins from this address or for this key'),
            },
          },
        },
        async (request, reply) => {
          // A form on another site (or another port of this host, which counts as the same site) cannot send
          // JSON without a CORS preflight, which this API never grants: sign-in takes JSON only, so no page but
          // the console's own can sign a browser in (or out of its session).
          if (!request.headers['content-type']?.toLowerCase().startsWith('application/json'))
            throw new HttpError(415, 'unsupported_media_type', 'sign-in takes an application/json body');
          const { credential, tenant } = request.body;
          const subjects = SignInLimiter.subjects(request.ip, credential);
          const wait = limiter.retryAfterSeconds(subjects);
          if (wait > 0)
            throw new HttpError(429, 'rate_limited', `too many failed sign-ins: try again in ${wait} s`, {
              'retry-after': String(wait),
            });
          let principal: ConsolePrincipal;
          try {
            principal = await principalFor(credential, tenant);
          } catch (e) {
            // A credential the API does not accept; a known key or token used wrongly (no tenant) is no guess.
            if (e instanceof HttpError && e.statusCode === 401) limiter.fail(subjects);
            throw e;
          }
          // A sign-in replaces the session this browser had (no fixation of an older id).
          const previous = cookieValue(request.headers.cookie, SESSION_COOKIE);
          if (previous) await endSession(previous);
          const session = sessions.create(principal);
          const maxAge = Math.floor((session.expiresAt - session.createdAt) / 1_000);
          reply.header('set-cookie', sessionCookie(session.id, maxAge, request.protocol === 'https'));
          reply.header('cache-control', 'no-store');
          return sessionView(session);
        },
      );

      app.get(
        '/console/api/session',
        {
          schema: {
            summary: 'The console session of this browser (`signed_in: false` without one)',
            tags: ['console'],
            security: [],
            response: {
              200: consoleSessionStateSchema.describe('this browser’s session, or signed_in: false'),
              ...errorResponses(500),
            },
          },
        },
        async (request, reply) => {
          const session = sessionOf(request);
          // A key revoked (or a tenant disabled) since sign-in ends the session too.
          reply.header('cache-control', 'no-store');
          // 200 either way: the console asks this on every load, and a 401 there would only be browser noise.
          if (!session) return { signed_in: false as const };
          if (keyRefusal(deps.control, session.principal.credential, Date.now())) {
            sessions.end(session.id);
            return { signed_in: false as const, reason: 'the key of this console session no longer works' };
          }
          return sessionView(session);
        },
      );

      app.delete(
        '/console/api/session',
        {
          schema: {
            summary: 'Console sign-out: ends the server session',
            tags: ['console'],
            security: [],
            response: {
              204: noBody('signed out (the cookie is cleared)'),
              ...errorResponses(400, 413, 415, 500),
              403: errorResponse('csrf_failed: sign-out needs the session’s X-CSRF-Token'),
            },
          },
        },
        async (request, reply) => {
          const session = sessionOf(request);
          if (session) {
            if (!csrfValid(session, request.headers[CSRF_HEADER]))
              throw new HttpError(403, 'csrf_failed', `sign-out needs this session's ${CSRF_HEADER} header`);
            await endSession(session.id);
          }
          reply.header('set-cookie', sessionCookie('', 0, request.protocol === 'https'));
          return reply.code(204).send();
        },
      );

      app.get(
        '/console/api/evidence/links',
        {
          schema: {
            summary: 'An agent’s raw evidence-chain links, for the console to recompute them in the browser',
            description:
              'The stored columns each link hashes (schemas/evidence-chain.md), in chain order from a sequence ' +
              'number, with the chain’s length (`total`) so the console can show verification progress. Reads ' +
              'as the session’s key (or a key of its own): the same tenant and agent scope as every read.',
            tags: ['console'],
            querystring: evidenceLinksQuerySchema,
            response: {
              200: evidenceLinksSchema.describe('the agent’s chain links from from_sequence'),
              ...errorResponses(400, 401, 403, 429, 500),
              503: errorResponse('store_unavailable: this process has no audit-trail store'),
            },
          },
        },
        async (request, reply) => {
          // The onRequest hook leaves /console URLs alone: present the session's key here, as it would.
          const session = sessionOf(request);
          if (
            session &&
            request.headers.authorization === undefined &&
            request.headers['x-api-key'] === undefined
          )
            presentSessionKey(request, session);
          const { tenant, agent_id, from_sequence, limit } = request.query;
          reader(request, tenant, agent_id);
          const store = requireStore(deps.store);
          const params = { tenant, agent: agent_id, from: from_sequence, limit };
          const [rows, [count]] = await Promise.all([
            store.select<StoredEvent>(
              `SELECT ${EVENT_COLUMNS} FROM events
               WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND chain_index >= {from:UInt64}
               ORDER BY chain_index LIMIT {limit:UInt32}`,
              params,
            ),
            store.select<{ total: number | string }>(
              'SELECT count() AS total FROM events WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}',
              params,
            ),
          ]);
          const data = rows.map(chainFieldsOf);
          const last = data[data.length - 1];
          reply.header('cache-control', 'no-store');
          return {
            agent_id,
            total: Number(count?.total ?? 0),
            from_sequence,
            data,
            next_sequence: data.length === limit && last ? last.chain_index + 1 : null,
          };
        },
      );

      const send = (request: FastifyRequest, reply: FastifyReply, asset: ConsoleAsset) => {
        reply
          .header('content-security-policy', CONSOLE_CSP)
          .header('x-content-type-options', 'nosniff')
          .header('referrer-policy', 'no-referrer')
          .header('x-frame-options', 'DENY')
          .header('cache-control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
          .header('etag', asset.etag)
          .header('vary', 'accept-encoding')
          .type(asset.contentType);
        if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
        const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
        if (asset.gzip && acceptsGzip) return reply.header('content-encoding', 'gzip').send(asset.gzip);
        return reply.send(asset.body);
      };

      app.get(
        '/console',
        { schema: { hide: true, response: { 302: redirect('/console/'), ...errorResponses(500) } } },
        async (_request, reply) => reply.redirect('/console/'),
      );
      app.get(
        '/console/*',
        {
          schema: {
            hide: true,
            params: consoleFileParamsSchema,
            response: {
              200: { description: 'a console file', content: { '*/*': { schema: consoleFileSchema } } },
              304: noBody('not modified (If-None-Match)'),
              ...errorResponses(400, 500),
              404: errorResponse(
                'not_found: no such console file; console_not_built: the console is not built',
              ),
            },
          },
        },
        async (request, reply) => {
          if (!assets)
            // A 404, not a 5xx: the process is healthy, the optional console is just absent.
            throw new HttpError(
              404,
              'console_not_built',
              'the console is not built: run `npm run build -w console` (npm ci does it)',
            );
          const path = request.params['*'];
          const asset = assets.get(path);
          if (asset) return send(request, reply, asset);
          // A file that is not there is a 404; any other path is a view of the single-page app.
          if (path.startsWith('api/') || path.startsWith('assets/') || /\.[a-z0-9]+$/i.test(path))
            throw new HttpError(404, 'not_found', `no console file ${path}`);
          const index = assets.get('index.html');
          if (!index) throw new HttpError(404, 'console_not_built', 'the console build has no index.html');
          return send(request, reply, index);
        },
      );
    }) satisfies FastifyPluginAsyncZod,
    { name: 'thoth-console' },
  );

/** A console session authenticates a request exactly as its key would: the key is presented for it. */
function presentSessionKey(request: FastifyRequest, session: ConsoleSession): void {
  request.headers.authorization = `Bearer ${session.principal.credential}`;
  // A person's session: the checks that depend on who acts (roles, approvals, the admin audit) see the person.
  if (session.principal.person) actAsPerson(request, session.principal.person);
}
