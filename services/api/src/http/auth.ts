import type { Permission } from '@thoth/contracts';
import { rateLimitedTotal } from '@thoth/platform';
import type { FastifyRequest } from 'fastify';
import { credentialFrom, secretsEqual } from '../control/api-keys.ts';
import type { ApiKeyIdentity } from '../control/control-projection.ts';
import type { ControlState } from '../control/control-state.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import { HttpError } from './http-error.ts';
import {
  ADMIN_TOKEN_PRINCIPAL,
  type PersonPrincipal,
  type Principal,
  type Role,
  roleAllows,
} from './principal.ts';

/** Who made a control-plane change, as the admin audit records it. */
export const ADMIN_TOKEN_ACTOR = 'admin-token';

/**
 * The signed-in person a console session acts for, by request. The session presents a key minted for it (so every
 * route authenticates and isolates as for that key); this says which person holds that key, for the checks that
 * depend on a role and for the record of who acted.
 */
const personOfRequest = new WeakMap<FastifyRequest, PersonPrincipal>();

/** Marks `request` as made by `person` (the console's session hook calls this). */
export function actAsPerson(request: FastifyRequest, person: PersonPrincipal): void {
  personOfRequest.set(request, person);
}

export function personOf(request: FastifyRequest): PersonPrincipal | undefined {
  return personOfRequest.get(request);
}

export interface Authenticator {
  /**
   * The key's identity if it may do `permission` (any one of them, when a list); else 401 (no/unknown/
   * expired/revoked key, disabled tenant), 403 (permission) or 429 (the key's or its tenant's rate limit).
   */
  require(request: FastifyRequest, permission: Permission | readonly Permission[]): ApiKeyIdentity;
  /** True when the request carries the admin token (THOTH_ADMIN_TOKEN). */
  isAdminToken(request: FastifyRequest): boolean;
  /** True when `credential` is the admin token: the console's sign-in checks a pasted credential with it. */
  isAdminCredential(credential: string): boolean;
  /**
   * The control-plane actor on `tenant`: the admin token (any tenant), a key with `permission` of that tenant, or
   * a signed-in person of that tenant whose role allows it (admin for "admin", viewer for reads); 403 otherwise.
   * Returns the principal, which the admin audit records.
   */
  requireAdmin(
    request: FastifyRequest,
    tenant: string,
    permission?: Permission | readonly Permission[],
  ): Principal;
  /**
   * Who may vote on `tenant`'s approvals: the admin token, a tenant-wide key with "admin" (keys keep their
   * permissions), or a person of that tenant with the approver or admin role; 403 otherwise.
   */
  requireApprover(request: FastifyRequest, tenant: string): Principal;
}

/**
 * Why `apiKey` may not be used now (unknown, revoked, expired key; disabled tenant), or undefined while it may.
 * The door of every request, and the re-check of long-lived ones (an open live-tail stream).
 */
export function keyRefusal(
  control: Pick<ControlState, 'projection'>,
  apiKey: string,
  now: number,
): string | undefined {
  return identityRefusal(control, control.projection.identify(apiKey), now);
}

/** `keyRefusal` for a key already looked up (each lookup hashes the key: the door does it once). */
function identityRefusal(
  control: Pick<ControlState, 'projection'>,
  identity: ApiKeyIdentity | undefined,
  now: number,
): string | undefined {
  if (!identity) return 'unknown API key: no tenant has this key (check for a typo or a stale copy)';
  if (identity.revokedAt !== null && identity.revokedAt <= now) return 'API key revoked';
  if (identity.expiresAt !== null && identity.expiresAt <= now) return 'API key expired';
  if (control.projection.tenant(identity.tenantId)?.disabled) return 'tenant disabled';
  return undefined;
}

export function createAuthenticator(deps: {
  control: Pick<ControlState, 'projection' | 'usage'>;
  rateLimiter: RateLimiter;
  adminToken: string;
  perKeyRate: number;
  perTenantRate: number;
  now?: () => number;
}): Authenticator {
  const authenticator: Authenticator = {
    require(request, permission) {
      const key = credentialFrom(request.headers);
      if (!key)
        throw new HttpError(
          401,
          'unauthorized',
          'missing API key: send Authorization: Bearer <key> or X-Api-Key',
        );
      const identity = deps.control.projection.identify(key);
      // The admin token is not an API key: say so, or a first user thinks the token is wrong. Checked only
      // for a credential no key matches, so a known key pays no second hash.
      if (!identity && secretsEqual(key, deps.adminToken))
        throw new HttpError(
          401,
          'unauthorized',
          'this is the admin token, not an API key: this route needs an API key ' +
            '(create one with POST /{tenant}/thoth/api-keys or `thoth keys create`)',
        );
      const now = deps.now?.() ?? Date.now();
      const refused = identityRefusal(deps.control, identity, now);
      if (refused || !identity) throw new HttpError(401, 'unauthorized', refused ?? 'unknown API key');
      const tenant = deps.control.projection.tenant(identity.tenantId);
      const wanted: readonly Permission[] = typeof permission === 'string' ? [permission] : permission;
      if (!wanted.some((p) => identity.permissions.has(p)))
        throw new HttpError(
          403,
          'forbidden',
          `this API key lacks the ${wanted.map((p) => `"${p}"`).join(' or ')} permission`,
        );
      const wait = deps.rateLimiter.take(
        { key: `key:${identity.keyId}`, ratePerSecond: deps.perKeyRate },
        {
          key: `tenant:${identity.tenantId}`,
          ratePerSecond: tenant?.rate_limit_per_second ?? deps.perTenantRate,
        },
      );
      if (wait > 0) {
        rateLimitedTotal.inc({ tenant: identity.tenantId });
        throw new HttpError(429, 'rate_limited', 'too many requests for this API key or its tenant', {
          'retry-after': String(wait),
        });
      }
      deps.control.usage.markUsed(identity, now);
      return identity;
    },
    isAdminToken(request) {
      const presented = credentialFrom(request.headers);
      return presented !== undefined && secretsEqual(presented, deps.adminToken);
    },
    isAdminCredential(credential) {
      return secretsEqual(credential, deps.adminToken);
    },
    requireAdmin(request, tenant, permission = 'admin') {
      if (authenticator.isAdminToken(request)) return ADMIN_TOKEN_PRINCIPAL;
      const person = personOf(request);
      if (person) {
        const wanted: readonly Permission[] = typeof permission === 'string' ? [permission] : permission;
        // A person's reads need any role; anything a key would need "admin" for needs the admin role.
        return requirePerson(request, person, tenant, wanted.includes('read') ? 'viewer' : 'admin');
      }
      const identity = authenticator.require(request, permission);
      if (identity.tenantId !== tenant)
        throw new HttpError(
          403,
          'tenant_mismatch',
          `this API key belongs to tenant "${identity.tenantId}", not "${tenant}": it acts on its own tenant only`,
        );
      // Tenant-wide acts and reads (keys, policies, dry runs over every agent, approvals): never an agent's key.
      if (identity.agentId !== null)
        throw new HttpError(
          403,
          'agent_mismatch',
          `this API key is scoped to agent "${identity.agentId}": tenant-wide operations need a tenant-wide key`,
        );
      return { kind: 'key', keyId: identity.keyId, name: identity.name, tenantId: identity.tenantId };
    },
    requireApprover(request, tenant) {
      const person = personOf(request);
      if (person) return requirePerson(request, person, tenant, 'approver');
      const principal = authenticator.requireAdmin(request, tenant);
      // Approving is a person's act: a key that can also call tools or send events (an agent's) must never
      // release a held call — its own, possibly.
      const key = principal.kind === 'key' ? credentialFrom(request.headers) : undefined;
      const identity = key === undefined ? undefined : deps.control.projection.identify(key);
      if (identity && (identity.permissions.has('execute') || identity.permissions.has('write')))
        throw new HttpError(
          403,
          'forbidden',
          'this API key also has execute or write (an agent could release its own held calls): approve with a key that has neither, or as a person',
        );
      return principal;
    },
  };

  /** A person acting on `tenant` with at least `needed`: the session's key must still work, and the role allow it. */
  const requirePerson = (
    request: FastifyRequest,
    person: PersonPrincipal,
    tenant: string,
    needed: Role,
  ): PersonPrincipal => {
    authenticator.require(request, ['read', 'admin']);
    if (person.tenantId !== tenant)
      throw new HttpError(
        403,
        'tenant_mismatch',
        `you are signed in to tenant "${person.tenantId}", not "${tenant}"`,
      );
    if (!roleAllows(person.role, needed))
      throw new HttpError(
        403,
        'forbidden',
        `your role in tenant "${tenant}" is "${person.role}": this needs "${needed}" (your IdP groups decide the role)`,
      );
    return person;
  };
  return authenticator;
}

/**
 * docs/protocol.md §Authentication: the tenant is the key's; a body naming another tenant (or agent, for
 * agent keys) is 403.
 */
export function assertSameTenant(
  identity: ApiKeyIdentity,
  tenantId: string | undefined,
  agentId?: string,
): void {
  if (tenantId !== undefined && tenantId !== identity.tenantId)
    throw new HttpError(
      403,
      'tenant_mismatch',
      `tenant_id "${tenantId}" is not the API key's tenant: this key belongs to tenant "${identity.tenantId}"`,
    );
  if (identity.agentId !== null && agentId !== undefined && agentId !== identity.agentId)
    throw new HttpError(403, 'agent_mismatch', `this API key is scoped to agent "${identity.agentId}"`);
}

/**
 * Reads by an agent-scoped key: only what names its own agent (a route's agent id or an `agent_id` filter);
 * a tenant-wide read (a session by id, every approval) is 403 for it. Tenant-wide keys read everything.
 */
export function assertReadScope(identity: ApiKeyIdentity, agentId: string | undefined): void {
  if (identity.agentId !== null && agentId !== identity.agentId)
    throw new HttpError(
      403,
      'agent_mismatch',
      `this API key is scoped to agent "${identity.agentId}": name it (agent_id) to read its trail`,
    );
}
