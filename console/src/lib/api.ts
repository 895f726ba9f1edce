/**
 * The console's one door to Thoth's API. The session cookie rides along (same origin); the key never reaches
 * the browser. Mutations carry the session's CSRF token, kept in memory only (re-read from the server after a
 * reload).
 */
export interface ApiErrorBody {
  error: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

let csrfToken: string | undefined;
let onUnauthorized: (() => void) | undefined;

export function setCsrfToken(token: string | undefined): void {
  csrfToken = token;
}

/** Called when the API answers 401: the session ended (expired, signed out elsewhere, key revoked). */
export function setUnauthorizedHandler(handler: (() => void) | undefined): void {
  onUnauthorized = handler;
}

export async function api<T>(
  path: string,
  init: { method?: 'GET' | 'POST' | 'DELETE' | 'PATCH'; body?: unknown } = {},
): Promise<T> {
  const method = init.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json' };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['x-csrf-token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  const parsed: unknown = text === '' ? undefined : JSON.parse(text);
  if (!response.ok) {
    const body = (parsed ?? {}) as Partial<ApiErrorBody>;
    if (response.status === 401 && !path.startsWith('/console/api/session')) onUnauthorized?.();
    throw new ApiError(response.status, body.error ?? 'error', body.message ?? response.statusText);
  }
  return parsed as T;
}

/** A query string from the defined, non-empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') search.set(k, String(v));
  const text = search.toString();
  return text ? `?${text}` : '';
}

/** A person signed in through single sign-on: their IdP identity and their role in the tenant. */
export interface SessionPerson {
  issuer: string;
  subject: string;
  email: string | null;
  name: string | null;
  groups: string[];
  role: 'viewer' | 'approver' | 'admin';
}

export interface SessionInfo {
  signed_in: true;
  tenant_id: string;
  method: 'api-key' | 'admin-token' | 'sso';
  label: string;
  permissions: string[];
  agent_id: string | null;
  /** Set for single sign-on. */
  person?: SessionPerson | null;
  csrf_token: string;
  expires_at: string;
}

export const can = (session: SessionInfo, permission: 'read' | 'write' | 'execute' | 'admin') =>
  session.permissions.includes(permission);

/** What `GET /console/api/session` answers: the session, or `signed_in: false`. */
export type SessionState = SessionInfo | { signed_in: false; reason?: string };

/** Tenant-wide admin: the admin token, or an admin key not scoped to one agent (the API's own rule). */
export const isTenantAdmin = (session: SessionInfo) => can(session, 'admin') && session.agent_id === null;

/**
 * May vote on approvals: a person with the approver or admin role, else (keys, the admin token) a tenant-wide
 * admin. The API decides; this only spares the buttons to someone it would refuse.
 */
export const canApprove = (session: SessionInfo) =>
  session.person ? session.person.role !== 'viewer' : isTenantAdmin(session);
