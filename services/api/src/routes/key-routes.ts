import {
  apiKeyListSchema,
  apiKeyParamsSchema,
  apiKeyViewSchema,
  createApiKeyBodySchema,
  createdApiKeySchema,
  createTenantBodySchema,
  errorResponse,
  errorResponses,
  receiptKeysSchema,
  tenantListSchema,
  tenantParamsSchema,
  tenantViewSchema,
  updateTenantBodySchema,
} from '@thoth/contracts';
import type { SigningKey } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ControlConflict } from '../control/control-commands.ts';
import type { ControlState } from '../control/control-state.ts';
import { apiKeyView, tenantView } from '../control/control-views.ts';
import type { Authenticator } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';

export interface KeyRouteDeps {
  auth: Authenticator;
  control: ControlState;
  signer: SigningKey;
}

/** Operator routes take the admin token only: no key, so no rate limit and no permission to lack. */
const operatorUnauthorized = errorResponse(
  'unauthorized: this route needs the admin token (THOTH_ADMIN_TOKEN)',
);

/** A refused control change as the client's error: 404 for what does not exist, 409 for a conflict. */
export function controlError(error: unknown): never {
  if (error instanceof ControlConflict)
    throw new HttpError(error.kind === 'not_found' ? 404 : 409, error.kind, error.message);
  throw error;
}

/**
 * Tenants (operators: the admin token) and API keys (the admin token, or a key with "admin" on its tenant).
 * Every change is audited by ControlState. Keys are shown once, at creation; lists never carry secrets.
 */
export const keyRoutes =
  (deps: KeyRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    const operatorOnly = (request: Parameters<Authenticator['isAdminToken']>[0]) => {
      if (!deps.auth.isAdminToken(request))
        throw new HttpError(
          401,
          'unauthorized',
          'tenant management needs the admin token (THOTH_ADMIN_TOKEN)',
        );
      return 'admin-token';
    };

    app.post(
      '/:tenant/thoth/api-keys',
      {
        schema: {
          summary:
            'Create an API key (admin token, or a key with "admin" on the tenant); creates the tenant if needed',
          tags: ['control plane'],
          params: tenantParamsSchema,
          body: createApiKeyBodySchema,
          response: {
            201: createdApiKeySchema.describe('the key, its plaintext shown this once'),
            ...errorResponses(400, 401, 403, 413, 414, 415, 429, 500),
          },
        },
      },
      async (request, reply) => {
        const tenantId = request.params.tenant;
        const actor = deps.auth.requireAdmin(request, tenantId);
        const { apiKey, record } = await deps.control.commands.createApiKey({
          tenantId,
          name: request.body.name,
          permissions: request.body.permissions,
          agentId: request.body.agent_id ?? null,
          expiresAt: request.body.expires_at ? Date.parse(request.body.expires_at) : null,
          createdBy: actor,
          kind: request.body.kind,
        });
        reply.code(201);
        return {
          api_key: apiKey,
          ...apiKeyView(record, undefined, Date.now()),
          note: 'store this key now: it is shown once',
        };
      },
    );

    app.get(
      '/:tenant/thoth/api-keys',
      {
        schema: {
          summary: 'The tenant’s API keys, newest first, without secrets (admin)',
          tags: ['control plane'],
          params: tenantParamsSchema,
          response: {
            200: apiKeyListSchema.describe('the tenant’s keys, newest first'),
            ...errorResponses(400, 401, 403, 414, 429, 500),
          },
        },
      },
      async (request) => {
        deps.auth.requireAdmin(request, request.params.tenant);
        return { api_keys: deps.control.projection.apiKeyList(request.params.tenant) };
      },
    );

    app.delete(
      '/:tenant/thoth/api-keys/:key_id',
      {
        schema: {
          summary: 'Revoke an API key (admin); every replica refuses it within a second',
          tags: ['control plane'],
          params: apiKeyParamsSchema,
          response: {
            200: apiKeyViewSchema.describe('the key, revoked'),
            ...errorResponses(400, 401, 403, 413, 414, 415, 429, 500),
            404: errorResponse('not_found: no such key in this tenant'),
          },
        },
      },
      async (request) => {
        const actor = deps.auth.requireAdmin(request, request.params.tenant);
        const record = await deps.control.commands
          .revokeApiKey(request.params.tenant, request.params.key_id, actor)
          .catch(controlError);
        return apiKeyView(record, undefined, Date.now());
      },
    );

    app.post(
      '/thoth/tenants',
      {
        schema: {
          summary: 'Create a tenant (admin token)',
          tags: ['control plane'],
          body: createTenantBodySchema,
          response: {
            201: tenantViewSchema.describe('the tenant'),
            ...errorResponses(400, 403, 413, 415, 500),
            401: operatorUnauthorized,
            409: errorResponse('conflict: the tenant exists'),
          },
        },
      },
      async (request, reply) => {
        const actor = operatorOnly(request);
        const record = await deps.control.commands
          .createTenant({
            tenantId: request.body.tenant_id,
            displayName: request.body.display_name,
            rateLimitPerSecond: request.body.rate_limit_per_second,
            actor,
          })
          .catch(controlError);
        reply.code(201);
        return tenantView(record);
      },
    );

    app.get(
      '/thoth/tenants',
      {
        schema: {
          summary: 'Every tenant (admin token)',
          tags: ['control plane'],
          response: {
            200: tenantListSchema.describe('every tenant'),
            401: operatorUnauthorized,
            ...errorResponses(500),
          },
        },
      },
      async (request) => {
        operatorOnly(request);
        return { tenants: deps.control.projection.tenantList().map(tenantView) };
      },
    );

    app.patch(
      '/thoth/tenants/:tenant',
      {
        schema: {
          summary: 'Change a tenant: display name, rate limit, disabled (admin token)',
          tags: ['control plane'],
          params: tenantParamsSchema,
          body: updateTenantBodySchema,
          response: {
            200: tenantViewSchema.describe('the tenant, changed'),
            ...errorResponses(400, 403, 413, 414, 415, 500),
            401: operatorUnauthorized,
            404: errorResponse('not_found: no such tenant'),
          },
        },
      },
      async (request) => {
        const actor = operatorOnly(request);
        const record = await deps.control.commands
          .updateTenant(request.params.tenant, request.body, actor)
          .catch(controlError);
        return tenantView(record);
      },
    );

    app.get(
      '/v1/keys/receipt',
      {
        schema: {
          summary: 'Public keys that sign decision receipts (Ed25519)',
          tags: ['data plane'],
          security: [],
          response: { 200: receiptKeysSchema.describe('the public keys'), ...errorResponses(500) },
        },
      },
      async () => {
        const known = deps.control.projection.receiptKeyList();
        const keys = known.some((k) => k.key_id === deps.signer.keyId)
          ? known
          : [
              ...known,
              { key_id: deps.signer.keyId, public_key_pem: deps.signer.publicKeyPem, created_at: Date.now() },
            ];
        return {
          signing_algorithm: 'ed25519' as const,
          current_key_id: deps.signer.keyId,
          keys: keys.map((k) => ({
            key_id: k.key_id,
            algorithm: 'ed25519' as const,
            public_key_pem: k.public_key_pem,
          })),
        };
      },
    );
  };
