import type { PrincipalRecord } from '@thoth/contracts';

/** What a signed-in person may do in a tenant (docs/sso.md#roles); each role includes the ones before it. */
export const ROLES = ['viewer', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** A person signed in through single sign-on: the IdP names them (issuer + subject); the tenant's mapping gives the role. */
export interface PersonPrincipal {
  kind: 'person';
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  /** The IdP's groups claim, as sent. */
  groups: readonly string[];
  tenantId: string;
  role: Role;
}

export interface KeyPrincipal {
  kind: 'key';
  keyId: string;
  name: string;
  tenantId: string;
}

export interface AdminTokenPrincipal {
  kind: 'admin-token';
}

/** Who acts: people and keys go through one authorization check and are recorded alike. */
export type Principal = PersonPrincipal | KeyPrincipal | AdminTokenPrincipal;

export const ADMIN_TOKEN_PRINCIPAL: AdminTokenPrincipal = { kind: 'admin-token' };

/** The one-line name an audit row shows (`actor`, `resolved_by`): stable for keys and the admin token as before. */
export function principalLabel(principal: Principal | string): string {
  if (typeof principal === 'string') return principal;
  switch (principal.kind) {
    case 'admin-token':
      return 'admin-token';
    case 'key':
      return `${principal.name} (${principal.keyId})`;
    case 'person':
      return `${principal.email ?? principal.subject} (${principal.issuer})`;
  }
}

/** The principal as the bus records it (thoth.v1.Principal); a bare string actor is the operator (admin token). */
export function principalRecord(principal: Principal | string): PrincipalRecord {
  const empty = { issuer: null, subject: null, email: null, key_id: null, name: null };
  // An operator's own label (the admin token's holder naming themselves, e.g. in a test or script).
  if (typeof principal === 'string')
    return { kind: 'admin-token', ...empty, name: principal === 'admin-token' ? null : principal };
  switch (principal.kind) {
    case 'admin-token':
      return { kind: 'admin-token', ...empty };
    case 'key':
      return { kind: 'key', ...empty, key_id: principal.keyId, name: principal.name };
    case 'person':
      return {
        kind: 'person',
        ...empty,
        issuer: principal.issuer,
        subject: principal.subject,
        email: principal.email,
        name: principal.name,
      };
  }
}

/** The identity "one person counts once" compares: issuer + subject for a person, the id for a key. */
export function principalIdentity(p: PrincipalRecord): string {
  if (p.kind === 'person') return `person:${p.issuer ?? ''}#${p.subject ?? ''}`;
  if (p.kind === 'key') return `key:${p.key_id ?? ''}`;
  return 'admin-token';
}

/** The highest role any of `groups` maps to in `roleByGroup`, or undefined when none does. */
export function roleOf(
  groups: readonly string[],
  roleByGroup: Readonly<Record<string, Role>>,
): Role | undefined {
  let best = -1;
  for (const group of groups) {
    const role = roleByGroup[group];
    if (role !== undefined) best = Math.max(best, ROLES.indexOf(role));
  }
  return best < 0 ? undefined : ROLES[best];
}

/** Whether `role` includes `needed` (admin ⊇ approver ⊇ viewer). */
export function roleAllows(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}
