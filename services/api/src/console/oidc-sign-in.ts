import { createRemoteJWKSet, type JWTPayload, errors as joseErrors, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { HttpError } from '../http/http-error.ts';
import { type PersonPrincipal, roleOf } from '../http/principal.ts';
import type { OidcProviderConfig, SsoConfig } from './sso-config.ts';

/** A sign-in started in a browser and not finished yet: what the callback must check. */
interface PendingSignIn {
  tenantId: string;
  codeVerifier: string;
  nonce: string;
  startedAt: number;
}

interface DiscoveredProvider {
  config: oidc.Configuration;
  jwks: ReturnType<typeof createRemoteJWKSet>;
}

/** A browser has this long between leaving for the IdP and coming back. */
const SIGN_IN_WINDOW_MS = 10 * 60 * 1_000;
const MAX_PENDING = 10_000;
/** An ID token handed in by the CLI (device code) must be this fresh: it is exchanged once, right after sign-in. */
const CLI_ID_TOKEN_MAX_AGE_SECONDS = 300;

/**
 * Single sign-on with OpenID Connect (docs/sso.md): the authorization code flow with PKCE for the console, and
 * the exchange of a fresh ID token for the CLI's device-code sign-in. `openid-client` speaks the protocol;
 * every ID token is also verified here with `jose` against the IdP's published keys (signature, issuer,
 * audience, expiry), since a token endpoint's answer is otherwise trusted on the strength of TLS alone.
 * The result is a person with a role in one tenant, from the IdP's groups and the tenant's mapping.
 */
export class OidcSignIn {
  private readonly discovered = new Map<string, Promise<DiscoveredProvider>>();
  private readonly pending = new Map<string, PendingSignIn>();

  constructor(
    readonly config: SsoConfig,
    private readonly now: () => number = Date.now,
  ) {}

  /** The IdP URL to send a browser to for `tenantId`, and the state that the callback must bring back. */
  async begin(tenantId: string): Promise<{ authorizationUrl: string; state: string }> {
    const tenant = this.tenantOrRefuse(tenantId);
    const { config } = await this.provider(tenant.provider);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    this.forgetStale();
    if (this.pending.size >= MAX_PENDING) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
    }
    this.pending.set(state, { tenantId, codeVerifier, nonce, startedAt: this.now() });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.config.redirectUri,
      scope: tenant.provider.scopes.join(' '),
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { authorizationUrl: url.toString(), state };
  }

  /**
   * Finishes a browser sign-in: `callbackUrl` is the URL the IdP redirected to, `browserState` the state this
   * browser was given at `begin` (its cookie), which must be the one coming back (no login CSRF).
   */
  async complete(callbackUrl: URL, browserState: string | undefined): Promise<PersonPrincipal> {
    const error = callbackUrl.searchParams.get('error');
    if (error)
      throw new HttpError(
        401,
        'unauthorized',
        `the identity provider refused the sign-in: ${error}${
          callbackUrl.searchParams.get('error_description')
            ? ` (${callbackUrl.searchParams.get('error_description')})`
            : ''
        }`,
      );
    const state = callbackUrl.searchParams.get('state') ?? '';
    const started = this.pending.get(state);
    if (!started || browserState !== state || this.now() - started.startedAt > SIGN_IN_WINDOW_MS)
      throw new HttpError(
        400,
        'invalid_request',
        'state: unknown, expired or not this browser’s sign-in: sign in again',
      );
    this.pending.delete(state);
    const tenant = this.tenantOrRefuse(started.tenantId);
    const provider = await this.provider(tenant.provider);
    let tokens: Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>;
    try {
      tokens = await oidc.authorizationCodeGrant(
        provider.config,
        // The IdP redirected to the registered URI: check the answer against that, not against a Host header.
        new URL(`${this.config.redirectUri}${callbackUrl.search}`),
        {
          pkceCodeVerifier: started.codeVerifier,
          expectedState: state,
          expectedNonce: started.nonce,
          idTokenExpected: true,
        },
      );
    } catch (e) {
      throw new HttpError(401, 'unauthorized', `sign-in failed at the token endpoint: ${describe(e)}`);
    }
    const payload = await this.verified(tenant.provider, provider, tokens.id_token ?? '', [
      tenant.provider.clientId,
    ]);
    let claims: Record<string, unknown> = payload;
    // Some IdPs send groups (or email) only from userinfo.
    if (payload[tenant.provider.groupsClaim] === undefined && tokens.access_token) {
      try {
        const userinfo = await oidc.fetchUserInfo(
          provider.config,
          tokens.access_token,
          payload.sub ?? oidc.skipSubjectCheck,
        );
        claims = { ...userinfo, ...payload };
      } catch (e) {
        throw new HttpError(401, 'unauthorized', `sign-in failed at the userinfo endpoint: ${describe(e)}`);
      }
    }
    return this.person(started.tenantId, tenant.provider, tenant.roles, payload, claims);
  }

  /**
   * A person from an ID token the CLI obtained itself (device code): verified as above, for the console's or the
   * CLI's client, and at most five minutes old.
   */
  async exchange(tenantId: string, idToken: string): Promise<PersonPrincipal> {
    const tenant = this.tenantOrRefuse(tenantId);
    const provider = await this.provider(tenant.provider);
    const audiences = [tenant.provider.clientId, tenant.provider.cliClientId].filter((a): a is string => !!a);
    const payload = await this.verified(
      tenant.provider,
      provider,
      idToken,
      audiences,
      CLI_ID_TOKEN_MAX_AGE_SECONDS,
    );
    return this.person(tenantId, tenant.provider, tenant.roles, payload, payload);
  }

  /** What the CLI needs to sign in with the device code (never a secret). */
  cliParameters(tenantId: string): {
    issuer: string;
    client_id: string;
    scopes: string[];
    allow_http: boolean;
  } {
    const tenant = this.tenantOrRefuse(tenantId);
    if (!tenant.provider.cliClientId)
      throw new HttpError(
        404,
        'not_found',
        `tenant ${tenantId}: no CLI client configured for single sign-on (cli_client_id)`,
      );
    return {
      issuer: tenant.provider.issuer,
      client_id: tenant.provider.cliClientId,
      scopes: tenant.provider.scopes,
      allow_http: tenant.provider.allowHttp,
    };
  }

  private async verified(
    config: OidcProviderConfig,
    provider: DiscoveredProvider,
    idToken: string,
    audiences: string[],
    maxAgeSeconds?: number,
  ): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(idToken, provider.jwks, {
        issuer: config.issuer,
        audience: audiences,
        requiredClaims: ['sub', 'exp', 'iat'],
        currentDate: new Date(this.now()),
        ...(maxAgeSeconds === undefined ? {} : { maxTokenAge: maxAgeSeconds }),
      });
      return payload;
    } catch (e) {
      throw new HttpError(401, 'unauthorized', `ID token refused: ${describe(e)}`);
    }
  }

  private person(
    tenantId: string,
    config: OidcProviderConfig,
    roles: Readonly<Record<string, PersonPrincipal['role']>>,
    token: JWTPayload,
    claims: Record<string, unknown>,
  ): PersonPrincipal {
    const raw = claims[config.groupsClaim];
    const groups = Array.isArray(raw)
      ? raw.filter((g): g is string => typeof g === 'string')
      : typeof raw === 'string'
        ? [raw]
        : [];
    const role = roleOf(groups, roles);
    // An address the IdP says it has not verified names nobody: it could be anyone's (and would then pass for
    // theirs in separation of duties and in the evidence).
    const email = typeof claims.email === 'string' && claims.email_verified !== false ? claims.email : null;
    if (!role)
      throw new HttpError(
        403,
        'forbidden',
        `${email ?? token.sub}: none of your groups (${groups.join(', ') || 'none'}) has a role in tenant ${tenantId}`,
      );
    return {
      kind: 'person',
      issuer: config.issuer,
      subject: String(token.sub),
      email,
      name: typeof claims.name === 'string' ? claims.name : null,
      groups,
      tenantId,
      role,
    };
  }

  private tenantOrRefuse(tenantId: string) {
    const tenant = this.config.tenant(tenantId);
    if (!tenant) throw new HttpError(404, 'not_found', `tenant ${tenantId} has no single sign-on`);
    return tenant;
  }

  private provider(config: OidcProviderConfig): Promise<DiscoveredProvider> {
    const key = `${config.issuer} ${config.clientId}`;
    let found = this.discovered.get(key);
    if (!found) {
      found = (async () => {
        const discovered = await oidc.discovery(
          new URL(config.issuer),
          config.clientId,
          undefined,
          config.clientSecret ? oidc.ClientSecretBasic(config.clientSecret) : oidc.None(),
          config.allowHttp ? { execute: [oidc.allowInsecureRequests] } : undefined,
        );
        const jwksUri = discovered.serverMetadata().jwks_uri;
        if (!jwksUri) throw new Error(`${config.issuer} publishes no jwks_uri`);
        return { config: discovered, jwks: createRemoteJWKSet(new URL(jwksUri)) };
      })();
      // A failed discovery (IdP down) is tried again on the next sign-in.
      found.catch(() => this.discovered.delete(key));
      this.discovered.set(key, found);
    }
    return found.catch((e: unknown) => {
      throw new HttpError(502, 'idp_unavailable', `identity provider ${config.issuer}: ${describe(e)}`);
    });
  }

  private forgetStale(): void {
    const cutoff = this.now() - SIGN_IN_WINDOW_MS;
    for (const [state, p] of this.pending) {
      if (p.startedAt >= cutoff) break; // in start order: the rest are newer
      this.pending.delete(state);
    }
  }
}

function describe(e: unknown): string {
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'bad signature';
  if (e instanceof joseErrors.JWTExpired) return 'expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `claim ${e.claim}: ${e.reason} (${e.message})`;
  if (e instanceof joseErrors.JWKSNoMatchingKey)
    return 'signed with a key the identity provider does not publish';
  return e instanceof Error ? e.message : String(e);
}
