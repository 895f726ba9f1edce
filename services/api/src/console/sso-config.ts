import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ROLES, type Role } from '../http/principal.ts';

/**
 * Single sign-on configuration (THOTH_SSO_CONFIG, a YAML or JSON file; docs/sso.md): one OpenID Provider for the
 * deployment, optionally another per tenant, and each tenant's group → role mapping. A tenant absent here has no
 * single sign-on.
 */

const providerFields = {
  /** The IdP's issuer URL (discovery at <issuer>/.well-known/openid-configuration). */
  issuer: z.url(),
  client_id: z.string().min(1),
  /** The client secret, or the name of an environment variable holding it (kept out of the file). */
  client_secret: z.string().min(1).optional(),
  client_secret_env: z.string().min(1).optional(),
  scopes: z.array(z.string().min(1)).min(1).default(['openid', 'email', 'profile']),
  /** The claim (ID token, else userinfo) that carries the user's groups. */
  groups_claim: z.string().min(1).default('groups'),
  /** A public client of the same IdP for `thoth login` (device code); its ID tokens are accepted too. */
  cli_client_id: z.string().min(1).optional(),
  /** Allows an http:// issuer (a local IdP in tests); never for a real deployment. */
  allow_http: z.boolean().default(false),
};

const tenantSchema = z.strictObject({
  /** IdP group → role in this tenant; a person whose groups map to no role cannot sign in. */
  roles: z.record(z.string().min(1), z.enum(ROLES)),
  /** This tenant's own IdP, instead of the deployment's. */
  provider: z.strictObject(providerFields).optional(),
});

export const ssoConfigSchema = z
  .strictObject({
    ...providerFields,
    issuer: providerFields.issuer.optional(),
    client_id: providerFields.client_id.optional(),
    /** The callback URL registered with the IdP: <public URL of Thoth>/console/api/sso/callback. */
    redirect_uri: z.url(),
    /** How long a signed-in person's session lasts (seconds; default the console's 8 hours). */
    session_ttl_seconds: z
      .number()
      .int()
      .min(1)
      .max(7 * 86_400)
      .optional(),
    tenants: z.record(z.string().min(1), tenantSchema),
  })
  .superRefine((c, ctx) => {
    for (const [tenant, t] of Object.entries(c.tenants))
      if (!t.provider && (!c.issuer || !c.client_id))
        ctx.addIssue({
          code: 'custom',
          path: ['tenants', tenant],
          message: 'needs a provider, or issuer and client_id at the top level',
        });
  });

export type SsoConfigInput = z.input<typeof ssoConfigSchema>;

/** One OpenID Provider client, resolved (secret read). */
export interface OidcProviderConfig {
  issuer: string;
  clientId: string;
  clientSecret: string | undefined;
  scopes: string[];
  groupsClaim: string;
  cliClientId: string | undefined;
  allowHttp: boolean;
}

export interface SsoConfig {
  redirectUri: string;
  sessionTtlMs: number | undefined;
  /** The provider and role mapping of a tenant with single sign-on, or undefined. */
  tenant(
    tenantId: string,
  ): { provider: OidcProviderConfig; roles: Readonly<Record<string, Role>> } | undefined;
}

export class SsoConfigError extends Error {
  override name = 'SsoConfigError';
}

/** Validates a parsed configuration; `env` gives `client_secret_env` values. Throws SsoConfigError naming the field. */
export function ssoConfigFrom(document: unknown, env: NodeJS.ProcessEnv = process.env): SsoConfig {
  const parsed = ssoConfigSchema.safeParse(document);
  if (!parsed.success)
    throw new SsoConfigError(
      `invalid SSO configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'config'}: ${i.message}`).join('; ')}`,
    );
  const c = parsed.data;
  const resolve = (p: {
    issuer?: string | undefined;
    client_id?: string | undefined;
    client_secret?: string | undefined;
    client_secret_env?: string | undefined;
    scopes: string[];
    groups_claim: string;
    cli_client_id?: string | undefined;
    allow_http: boolean;
  }): OidcProviderConfig => {
    const secret = p.client_secret ?? (p.client_secret_env ? env[p.client_secret_env] : undefined);
    if (p.client_secret_env && !secret)
      throw new SsoConfigError(`client_secret_env: environment variable ${p.client_secret_env} is not set`);
    if (!p.allow_http && p.issuer?.startsWith('http:'))
      throw new SsoConfigError('issuer: must be https (allow_http is for a local test IdP only)');
    return {
      issuer: p.issuer ?? '',
      clientId: p.client_id ?? '',
      clientSecret: secret,
      scopes: p.scopes.includes('openid') ? p.scopes : ['openid', ...p.scopes],
      groupsClaim: p.groups_claim,
      cliClientId: p.cli_client_id,
      allowHttp: p.allow_http,
    };
  };
  const deployment = c.issuer && c.client_id ? resolve(c) : undefined;
  const tenants = new Map(
    Object.entries(c.tenants).map(([id, t]) => [
      id,
      { provider: t.provider ? resolve(t.provider) : (deployment as OidcProviderConfig), roles: t.roles },
    ]),
  );
  return {
    redirectUri: c.redirect_uri,
    sessionTtlMs: c.session_ttl_seconds === undefined ? undefined : c.session_ttl_seconds * 1_000,
    tenant: (tenantId) => tenants.get(tenantId),
  };
}

/** Reads THOTH_SSO_CONFIG (YAML or JSON). */
export function loadSsoConfig(path: string, env: NodeJS.ProcessEnv = process.env): SsoConfig {
  const text = readFileSync(path, 'utf8');
  let document: unknown;
  try {
    document = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    throw new SsoConfigError(
      `THOTH_SSO_CONFIG ${path}: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return ssoConfigFrom(document, env);
}
