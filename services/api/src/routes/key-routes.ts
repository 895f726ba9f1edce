import type { SigningKey } from '@thoth/platform';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PERMISSIONS } from '../control/api-keys.ts';
import { ControlConflict, type ControlState } from '../control/control-state.ts';
import { apiKeyView, tenantView } from '../control/control-views.ts';
import type { Authenticator } from '../http/auth.ts';
import { HttpError } from '../http/http-error.ts';

export const TENANT_ID = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, dot, underscore and dash; at most 128');

export interface KeyRouteDeps {
  auth: Authenticator;
  control: ControlState;
  signer: SigningKey;
}

const tenantParams = z.object({ tenant: TENANT_ID });

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
          params: tenantParams,
          body: z
            .object({
              name: z.string().trim().min(1).max(200),
              permissions: z.array(z.enum(PERMISSIONS)).min(1).default(['execute', 'write', 'read']),
              agent_id: z.string().min(1).max(512).nullish(),
              expires_at: z.iso.datetime({ offset: true }).nullish(),
              kind: z.enum(['live', 'test']).default('live'),
            })
            .refine((b) => !(b.agent_id && b.permissions.includes('admin')), {
              path: ['permissions'],
              message: '"admin" acts on the whole tenant: it cannot be given to a key scoped to one agent',
            }),
        },
      },
      async (request, reply) => {
        const tenantId = request.params.tenant;
        const actor = deps.auth.requireAdmin(request, tenantId);
        const { apiKey, record } = await deps.control.createApiKey({
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
          params: tenantParams,
        },
      },
      async (request) => {
        deps.auth.requireAdmin(request, request.params.tenant);
        return { api_keys: deps.control.apiKeyList(request.params.tenant) };
      },
    );

    app.delete(
      '/:tenant/thoth/api-keys/:key_id',
      {
        schema: {
          summary: 'Revoke an API key (admin); every replica refuses it within a second',
          tags: ['control plane'],
          params: tenantParams.extend({ key_id: z.string().min(1).max(128) }),
        },
      },
      async (request) => {
        const actor = deps.auth.requireAdmin(request, request.params.tenant);
        const record = await deps.control
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
          body: z.object({
            tenant_id: TENANT_ID,
            display_name: z.string().trim().min(1).max(200).nullish(),
            rate_limit_per_second: z.number().int().min(1).max(10_000_000).nullish(),
          }),
        },
      },
      async (request, reply) => {
        const actor = operatorOnly(request);
        const record = await deps.control
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
      { schema: { summary: 'Every tenant (admin token)', tags: ['control plane'] } },
      async (request) => {
        operatorOnly(request);
        return { tenants: deps.control.tenantList().map(tenantView) };
      },
    );

    app.patch(
      '/thoth/tenants/:tenant',
      {
        schema: {
          summary: 'Change a tenant: display name, rate limit, disabled (admin token)',
          tags: ['control plane'],
          params: tenantParams,
          body: z
            .object({
              display_name: z.string().trim().min(1).max(200).nullable(),
              rate_limit_per_second: z.number().int().min(1).max(10_000_000).nullable(),
              disabled: z.boolean(),
            })
            .partial()
            .refine((patch) => Object.keys(patch).length > 0, 'nothing to change'),
        },
      },
      async (request) => {
        const actor = operatorOnly(request);
        const record = await deps.control
          .updateTenant(request.params.tenant, request.body, actor)
          .catch(controlError);
        return tenantView(record);
      },
    );

    app.get(
      '/v1/keys/receipt',
      { schema: { summary: 'Public keys that sign decision receipts (Ed25519)', tags: ['data plane'] } },
      async () => {
        const known = deps.control.receiptKeyList();
        const keys = known.some((k) => k.key_id === deps.signer.keyId)
          ? known
          : [
              ...known,
              { key_id: deps.signer.keyId, public_key_pem: deps.signer.publicKeyPem, created_at: Date.now() },
            ];
        return {
          signing_algorithm: 'ed25519',
          current_key_id: deps.signer.keyId,
          keys: keys.map((k) => ({
            key_id: k.key_id,
            algorithm: 'ed25519',
            public_key_pem: k.public_key_pem,
          })),
        };
      },
    );
  };
