import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Permission } from '@thoth/contracts';
import type { PersonPrincipal } from '../http/principal.ts';

/**
 * Who signed in to the console: a pasted API key, the admin token, or a person through single sign-on; for the
 * last two a tenant key is minted, held here in the server's memory only: the browser gets an opaque session id,
 * never a key or a token. Single sign-on's callback maps the IdP's user to a tenant and role and mints a
 * short-lived key with that role's permissions (revoked at sign-out, expiring with the session) — so every API
 * route keeps its one authentication path (the key) and its isolation checks, and the checks that depend on a
 * person (roles, approvals) see `person`.
 */
export interface ConsolePrincipal {
  /**
   * The API key the session acts with; sent to the API's own authenticator, never to the browser. For the admin
   * token it is a key minted for the session (reads of the trail take a tenant's key; the token is no key).
   */
  credential: string;
  /** How the session was opened. */
  method: 'api-key' | 'admin-token' | 'sso';
  /** Shown in the console (the key's name, or "admin token"). */
  label: string;
  tenantId: string;
  /** The key's permissions; the admin token holds every one. */
  permissions: readonly Permission[];
  /** Set for a key scoped to one agent. */
  agentId: string | null;
  /** A key minted for this session alone (admin token, SSO): revoked at sign-out, expires with it. */
  mintedKeyId: string | null;
  /** The signed-in person (SSO only). */
  person?: PersonPrincipal;
}

export interface ConsoleSession {
  id: string;
  /** Sent back in `X-CSRF-Token` on every mutation: a cross-site page cannot read it. */
  csrfToken: string;
  principal: ConsolePrincipal;
  createdAt: number;
  expiresAt: number;
}

export const SESSION_COOKIE = 'thoth_console';
export const CSRF_HEADER = 'x-csrf-token';
export const DEFAULT_SESSION_TTL_MS = 8 * 60 * 60 * 1_000;
const MAX_SESSIONS = 10_000;

/**
 * Console sessions in this process's memory (an in-memory map: a restart signs everyone out; replicas behind a
 * balancer need sticky sessions until sessions move to a shared store). Bounded: the oldest session goes first.
 * Keyed by the SHA-256 of the id so a heap dump does not hand out live cookies.
 */
export class ConsoleSessions {
  private readonly byHash = new Map<string, ConsoleSession>();

  constructor(
    readonly ttl: number = DEFAULT_SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A new session; `ttlMs` overrides the store's lifetime (SSO's `session_ttl_seconds`). */
  create(principal: ConsolePrincipal, ttlMs: number = this.ttl): ConsoleSession {
    const createdAt = this.now();
    const session: ConsoleSession = {
      id: randomBytes(32).toString('base64url'),
      csrfToken: randomBytes(32).toString('base64url'),
      principal,
      createdAt,
      expiresAt: createdAt + ttlMs,
    };
    if (this.byHash.size >= MAX_SESSIONS) {
      const oldest = this.byHash.keys().next();
      if (!oldest.done) this.byHash.delete(oldest.value);
    }
    this.byHash.set(hashId(session.id), session);
    return session;
  }

  /** The live session of this id, or undefined (unknown or expired; an expired one is forgotten). */
  get(id: string): ConsoleSession | undefined {
    const key = hashId(id);
    const session = this.byHash.get(key);
    if (!session) return undefined;
    if (session.expiresAt <= this.now()) {
      this.byHash.delete(key);
      return undefined;
    }
    return session;
  }

  end(id: string): void {
    this.byHash.delete(hashId(id));
  }

  get size(): number {
    return this.byHash.size;
  }
}

function hashId(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}

/** The value of cookie `name` in a Cookie header, or undefined. Tolerates any other cookies and spacing. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** The Set-Cookie value for a session (or for clearing it: `maxAgeSeconds` 0). */
export function sessionCookie(value: string, maxAgeSeconds: number, secure: boolean): string {
  // Path=/: the API the console calls lives at /{tenant}/… and /v1/…, not under /console.
  const parts = [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    'HttpOnly',
    'SameSite=Strict',
    `Max-Age=${maxAgeSeconds}`,
  ];
  if (secure) parts.push('Secure');
  return parts.join('; ');
}

/** Mutations need the session's CSRF token (a SameSite=Strict cookie alone trusts every browser to honor it). */
export function csrfValid(session: ConsoleSession, presented: string | string[] | undefined): boolean {
  if (typeof presented !== 'string' || presented.length === 0) return false;
  const a = createHash('sha256').update(presented).digest();
  const b = createHash('sha256').update(session.csrfToken).digest();
  return timingSafeEqual(a, b);
}

/** Methods that change nothing: no CSRF token needed. */
export function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}
