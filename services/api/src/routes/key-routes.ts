import type { SigningKey } from '@thoth/common/signing-key';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PERMISSIONS } from '../control/api-keys.ts';
import type { ControlState } from '../control/control-state.ts';
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

export const keyRoutes =
  (deps: KeyRouteDeps): FastifyPluginAsyncZod =>
  async (app) => {
    app.post(
      '/:tenant/thoth/api-keys',
      {
        schema: {
          summary:
            'Create an API key (admin token, or a key with "admin" on the tenant); creates the tenant if needed',
          tags: ['control plane'],
          params: z.object({ tenant: TENANT_ID }),
          body: z.object({
            name: z.string().trim().min(1).max(200),
            permissions: z.array(z.enum(PERMISSIONS)).min(1).default(['execute', 'write', 'read']),
            agent_id: z.string().min(1).max(512).nullish(),
            expires_at: z.iso.datetime({ offset: true }).nullish(),
            kind: z.enum(['live', 'test']).default('live'),
          }),
        },
      },
      async (request, reply) => {
        const tenantId = request.params.tenant;
        let createdBy = 'admin-token';
        if (!deps.auth.isAdminToken(request)) {
          const identity = deps.auth.require(request, 'admin');
          if (identity.tenantId !== tenantId)
            throw new HttpError(403, 'tenant_mismatch', 'an admin key manages its own tenant only');
          createdBy = identity.keyId;
        }
        const { apiKey, record } = await deps.control.createApiKey({
          tenantId,
          name: request.body.name,
          permissions: request.body.permissions,
          agentId: request.body.agent_id ?? null,
          expiresAt: request.body.expires_at ? Date.parse(request.body.expires_at) : null,
          createdBy,
          kind: request.body.kind,
        });
        reply.code(201);
        return {
          api_key: apiKey,
          key_id: record.key_id,
          tenant_id: record.tenant_id,
          name: record.name,
          key_prefix: record.key_prefix,
          permissions: record.permissions,
          agent_id: record.agent_id,
          expires_at: record.expires_at === null ? null : new Date(record.expires_at).toISOString(),
          created_at: new Date(record.created_at).toISOString(),
          note: 'store this key now: it is shown once',
        };
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
