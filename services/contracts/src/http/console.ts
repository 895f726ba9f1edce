import { z } from 'zod';
import { PERMISSIONS, tenantIdSchema } from './keys-and-tenants.ts';
import { chainLinkSchema } from './soc.ts';

/** The SOC console's own routes under /console: its session, single sign-on, chain links, and its files. */

/** POST /console/api/session: sign in with an API key or the admin token (which names a tenant). */
export const signInBodySchema = z.object({
  credential: z.string().trim().min(1).max(4_096),
  tenant: tenantIdSchema.optional(),
});

/** GET /console/api/sso/start and /console/api/sso/cli */
export const ssoTenantQuerySchema = z.object({ tenant: tenantIdSchema });

/** POST /console/api/sso/id-token: the CLI's ID token (device code) for a session. */
export const idTokenBodySchema = z.object({
  tenant: tenantIdSchema,
  id_token: z.string().min(1).max(16_384),
});

/** What the console learns about its session: never the credential. */
export const consoleSessionSchema = z.object({
  signed_in: z.literal(true),
  tenant_id: z.string(),
  method: z.enum(['api-key', 'admin-token', 'sso']),
  label: z.string().describe('the key’s name, "admin token", or the person'),
  permissions: z.array(z.enum(PERMISSIONS)),
  agent_id: z.string().nullable(),
  person: z
    .object({
      issuer: z.string(),
      subject: z.string(),
      email: z.string().nullable(),
      name: z.string().nullable(),
      groups: z.array(z.string()),
      role: z.enum(['viewer', 'approver', 'admin']),
    })
    .nullable()
    .describe('single sign-on only'),
  csrf_token: z.string().describe('send as X-CSRF-Token on every mutation'),
  expires_at: z.string(),
});
export type ConsoleSessionView = z.infer<typeof consoleSessionSchema>;

/** GET /console/api/session: the session, or `signed_in: false` (never a 401: the console asks on every load). */
export const consoleSessionStateSchema = z.union([
  consoleSessionSchema,
  z.object({ signed_in: z.literal(false), reason: z.string().optional() }),
]);

/** POST /console/api/sso/id-token: the session, and its cookie value for the CLI. */
export const cliSessionSchema = consoleSessionSchema.extend({ session_token: z.string() });

/** GET /console/api/sso */
export const ssoEnabledSchema = z.object({ enabled: z.boolean() });

/** GET /console/api/sso/cli: what `thoth login` needs for the device code (never a secret). */
export const ssoCliParametersSchema = z.object({
  issuer: z.string(),
  client_id: z.string(),
  scopes: z.array(z.string()),
  allow_http: z.boolean(),
});

/** GET /console/api/evidence/links */
export const evidenceLinksQuerySchema = z.object({
  tenant: tenantIdSchema,
  agent_id: z.string().min(1).max(512),
  from_sequence: z.coerce.number().int().min(1).default(1),
  limit: z.coerce.number().int().min(1).max(5_000).default(1_000),
});

/** An agent's raw chain links, for the console to recompute them in the browser. */
export const evidenceLinksSchema = z.object({
  agent_id: z.string(),
  total: z.int().describe('links in the agent’s chain'),
  from_sequence: z.int(),
  data: z.array(chainLinkSchema),
  next_sequence: z.int().nullable(),
});

/** GET /console/{path} */
export const consoleFileParamsSchema = z.object({ '*': z.string().max(1_024) });

/** A file of the built console (HTML, JavaScript, CSS, images, fonts), as is or gzipped. */
export const consoleFileSchema = z.string().describe('the file');
