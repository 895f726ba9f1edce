import type { Store } from '@thoth/platform';
import type { ApiKeyIdentity } from '../control/control-projection.ts';
import { type Authenticator, assertReadScope } from './auth.ts';
import { HttpError } from './http-error.ts';

/**
 * The key's identity when it may read `tenant` (a `read` key of that tenant; 403 for another tenant) — and,
 * for a key scoped to one agent, only reads that name that agent (`agentId`; 403 otherwise).
 */
export function tenantReader(auth: Authenticator) {
  return (
    request: Parameters<Authenticator['require']>[0],
    tenant: string,
    agentId: string | undefined,
  ): ApiKeyIdentity => {
    const identity = auth.require(request, 'read');
    if (identity.tenantId !== tenant)
      throw new HttpError(403, 'tenant_mismatch', 'this API key reads its own tenant only');
    assertReadScope(identity, agentId);
    return identity;
  };
}

/** The analytics store, or a 503 in a process that has none. */
export function requireStore(store: Pick<Store, 'select'> | undefined): Pick<Store, 'select'> {
  if (!store) throw new HttpError(503, 'store_unavailable', 'this process has no audit-trail store');
  return store;
}
