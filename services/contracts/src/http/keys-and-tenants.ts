import { z } from 'zod';

/** A tenant id, in paths and bodies: what a URL segment and a Kafka key can carry as is. */
export const tenantIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'letters, digits, dot, underscore and dash; at most 128');

/** `/{tenant}/…` routes. */
export const tenantParamsSchema = z.object({ tenant: tenantIdSchema });

/** What an API key may do (docs/control-plane.md#rbac-and-scopes). */
export const PERMISSIONS = ['execute', 'write', 'read', 'admin'] as const;
export type Permission = (typeof PERMISSIONS)[number];

const isoTime = z.string().describe('ISO-8601');

// ── API keys ─────────────────────────────────────────────────────────────────────────────────────────────

/** POST /{tenant}/thoth/api-keys */
export const createApiKeyBodySchema = z
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
  });

/** DELETE /{tenant}/thoth/api-keys/{key_id} */
export const apiKeyParamsSchema = tenantParamsSchema.extend({ key_id: z.string().min(1).max(128) });

/** A key as the control plane shows it: never its plaintext or its hash, only the short visible prefix. */
export const apiKeyViewSchema = z.object({
  key_id: z.string(),
  tenant_id: z.string(),
  name: z.string(),
  key_prefix: z.string(),
  permissions: z.array(z.enum(PERMISSIONS)),
  agent_id: z.string().nullable().describe('set for a key scoped to one agent'),
  status: z.enum(['active', 'revoked', 'expired']),
  created_at: isoTime,
  created_by: z.string(),
  expires_at: isoTime.nullable(),
  revoked_at: isoTime.nullable(),
  last_used_at: isoTime.nullable(),
});
export type ApiKeyView = z.infer<typeof apiKeyViewSchema>;

/** The answer of creating a key: the only time its plaintext is shown. */
export const createdApiKeySchema = apiKeyViewSchema.extend({
  api_key: z.string().describe('the key itself (thoth_live_… or thoth_test_…): shown once'),
  note: z.string(),
});

export const apiKeyListSchema = z.object({ api_keys: z.array(apiKeyViewSchema) });

// ── Tenants ──────────────────────────────────────────────────────────────────────────────────────────────

/** POST /thoth/tenants */
export const createTenantBodySchema = z.object({
  tenant_id: tenantIdSchema,
  display_name: z.string().trim().min(1).max(200).nullish(),
  rate_limit_per_second: z.number().int().min(1).max(10_000_000).nullish(),
});

/** PATCH /thoth/tenants/{tenant} */
export const updateTenantBodySchema = z
  .object({
    display_name: z.string().trim().min(1).max(200).nullable(),
    rate_limit_per_second: z.number().int().min(1).max(10_000_000).nullable(),
    disabled: z.boolean(),
  })
  .partial()
  .refine((patch) => Object.keys(patch).length > 0, 'nothing to change');

export const tenantViewSchema = z.object({
  tenant_id: z.string(),
  display_name: z.string().nullable(),
  rate_limit_per_second: z.int().nullable().describe('null: THOTH_RATE_LIMIT_PER_TENANT'),
  disabled: z.boolean(),
  created_at: isoTime,
  created_by: z.string(),
});
export type TenantView = z.infer<typeof tenantViewSchema>;

export const tenantListSchema = z.object({ tenants: z.array(tenantViewSchema) });

// ── Receipt keys ─────────────────────────────────────────────────────────────────────────────────────────

/** GET /v1/keys/receipt: the public keys of every process that signs receipts (docs/receipts.md). */
export const receiptKeysSchema = z.object({
  signing_algorithm: z.literal('ed25519'),
  current_key_id: z.string().describe('the key of the process that answered'),
  keys: z.array(
    z.object({ key_id: z.string(), algorithm: z.literal('ed25519'), public_key_pem: z.string() }),
  ),
});
