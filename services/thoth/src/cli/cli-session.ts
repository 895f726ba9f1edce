import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import * as oidc from 'openid-client';
import type { ThothClient } from './thoth-client.ts';

/**
 * `thoth login`: a person signs in with their identity provider's device code (RFC 8628) and the CLI keeps the
 * resulting Thoth session — the console's server-side session, never an IdP token — in a file only its user can
 * read. Commands then act as that person (their role, their name on approvals) when no key or token is given.
 */

export interface SavedSession {
  url: string;
  tenant: string;
  session_token: string;
  csrf_token: string;
  expires_at: string;
  who: string;
}

/** THOTH_SESSION_FILE, else $XDG_CONFIG_HOME/thoth/session.json (~/.config by default). */
export function sessionFile(env: Record<string, string | undefined>): string {
  if (env.THOTH_SESSION_FILE) return env.THOTH_SESSION_FILE;
  return join(env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'thoth', 'session.json');
}

/** The saved session for `url`, if there is one and it has not expired. */
export function readSession(file: string, url: string, now = Date.now()): SavedSession | undefined {
  let saved: SavedSession;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8')) as SavedSession;
  } catch {
    return undefined;
  }
  if (saved.url !== url || Date.parse(saved.expires_at) <= now) return undefined;
  return saved;
}

export function forgetSession(file: string): void {
  rmSync(file, { force: true });
}

interface CliParameters {
  issuer: string;
  client_id: string;
  scopes: string[];
  allow_http?: boolean;
}

/**
 * Signs in to `tenant` with the device code: asks Thoth which IdP and public client to use, shows the person
 * where to go, waits for the IdP, and exchanges the fresh ID token for a session.
 */
export async function deviceLogin(
  client: ThothClient,
  url: string,
  tenant: string,
  file: string,
  say: (text: string) => void,
): Promise<SavedSession> {
  const t = encodeURIComponent(tenant);
  const params = (await client.call('GET', `/console/api/sso/cli?tenant=${t}`)) as CliParameters;
  const config = await oidc.discovery(
    new URL(params.issuer),
    params.client_id,
    undefined,
    oidc.None(),
    params.allow_http ? { execute: [oidc.allowInsecureRequests] } : undefined,
  );
  const device = await oidc.initiateDeviceAuthorization(config, { scope: params.scopes.join(' ') });
  say(
    `To sign in to tenant ${tenant}, open ${device.verification_uri_complete ?? device.verification_uri}` +
      `${device.verification_uri_complete ? '' : ` and enter the code ${device.user_code}`} (code ${device.user_code}).`,
  );
  const tokens = await oidc.pollDeviceAuthorizationGrant(config, device);
  if (!tokens.id_token)
    throw new Error('the identity provider answered without an ID token (is "openid" a scope?)');
  const body = (await client.call('POST', '/console/api/sso/id-token', {
    body: { tenant, id_token: tokens.id_token },
  })) as {
    session_token: string;
    csrf_token: string;
    expires_at: string;
    label: string;
    person: { role: string } | null;
  };
  const saved: SavedSession = {
    url,
    tenant,
    session_token: body.session_token,
    csrf_token: body.csrf_token,
    expires_at: body.expires_at,
    who: `${body.label} (${body.person?.role ?? 'no role'})`,
  };
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  // The mode applies only to a file created here: an existing one is narrowed before the session goes in.
  if (existsSync(file)) chmodSync(file, 0o600);
  writeFileSync(file, JSON.stringify(saved, null, 2), { mode: 0o600 });
  return saved;
}
