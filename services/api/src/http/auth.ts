import type { FastifyRequest } from 'fastify';
import { credentialFrom, type Permission, secretsEqual } from '../control/api-keys.ts';
import type { ApiKeyIdentity, ControlState } from '../control/control-state.ts';
import type { RateLimiter } from '../rate-limiter.ts';
import { HttpError } from './http-error.ts';

export interface Authenticator {
  /** The key's identity if it may do `permission`; else 401 (no/unknown/expired key), 403 or 429. */
  require(request: FastifyRequest, permission: Permission): ApiKeyIdentity;
  /** True when the request carries the admin token (THOTH_ADMIN_TOKEN). */
  isAdminToken(request: FastifyRequest): boolean;
}

export function createAuthenticator(deps: {
  control: Pick<ControlState, 'identify'>;
  rateLimiter: RateLimiter;
  adminToken: string;
  now?: () => number;
}): Authenticator {
  return {
    require(request, permission) {
      const key = credentialFrom(request.headers);
      if (!key)
        throw new HttpError(
          401,
          'unauthorized',
          'missing API key: send Authorization: Bearer <key> or X-Api-Key',
        );
      const identity = deps.control.identify(key);
      const now = deps.now?.() ?? Date.now();
      if (!identity) throw new HttpError(401, 'unauthorized', 'unknown API key');
      if (identity.revokedAt !== null && identity.revokedAt <= now)
        throw new HttpError(401, 'unauthorized', 'API key revoked');
      if (identity.expiresAt !== null && identity.expiresAt <= now)
        throw new HttpError(401, 'unauthorized', 'API key expired');
      if (!identity.permissions.has(permission))
        throw new HttpError(403, 'forbidden', `this API key lacks the "${permission}" permission`);
      const wait = deps.rateLimiter.take(identity.keyId);
      if (wait > 0)
        throw new HttpError(429, 'rate_limited', 'too many requests for this API key', {
          'retry-after': String(wait),
        });
      return identity;
    },
    isAdminToken(request) {
      const presented = credentialFrom(request.headers);
      return presented !== undefined && secretsEqual(presented, deps.adminToken);
    },
  };
}

/** PROTOCOL.md: the tenant is the key's; a body naming another tenant (or agent, for agent keys) is 403. */
export function assertSameTenant(
  identity: ApiKeyIdentity,
  tenantId: string | undefined,
  agentId?: string,
): void {
  if (tenantId !== undefined && tenantId !== identity.tenantId)
    throw new HttpError(403, 'tenant_mismatch', `tenant_id "${tenantId}" is not the API key's tenant`);
  if (identity.agentId !== null && agentId !== undefined && agentId !== identity.agentId)
    throw new HttpError(403, 'agent_mismatch', `this API key is scoped to agent "${identity.agentId}"`);
}
