import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, type JWK } from 'jose';
import Provider from 'oidc-provider';

/**
 * A real OpenID Provider for the tests: the certified `oidc-provider` package on a loopback port, with the
 * users below, a confidential client for the console (authorization code + PKCE), a second confidential client
 * (its ID tokens have another audience) and a public client for the device-code flow (`thoth login`). Its dev
 * interactions are the login and consent forms a browser (or a test following redirects) fills in.
 */
export interface TestUser {
  email: string;
  name: string;
  groups: string[];
}

export interface TestIdp {
  issuer: string;
  /** The IdP's signing key (private JWK): tests sign ID tokens the IdP would never issue with it. */
  signingJwk: JWK & { kid: string };
  clients: {
    console: { id: string; secret: string };
    other: { id: string; secret: string };
    cli: { id: string };
  };
  /**
   * When set, the ID token in each token endpoint answer is replaced by what this returns: a man in the middle
   * (or a broken IdP), to show that the relying party verifies what it is given.
   */
  tamperIdToken: ((idToken: string) => Promise<string>) | undefined;
  close(): Promise<void>;
}

export const TEST_USERS: Record<string, TestUser> = {
  alice: { email: 'alice@example.com', name: 'Alice Approver', groups: ['payments-approvers'] },
  bob: { email: 'bob@example.com', name: 'Bob Viewer', groups: ['soc-viewers'] },
  carol: { email: 'carol@example.com', name: 'Carol Approver', groups: ['payments-approvers'] },
  dave: { email: 'dave@example.com', name: 'Dave Admin', groups: ['thoth-admins', 'payments-approvers'] },
  erin: { email: 'erin@example.com', name: 'Erin Contractor', groups: ['contractors'] },
};

export async function startTestIdp(options: {
  redirectUris: string[];
  users?: Record<string, TestUser>;
  idTokenTtlSeconds?: number;
}): Promise<TestIdp> {
  const users = options.users ?? TEST_USERS;
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingJwk = { ...(await exportJWK(privateKey)), kid: 'test-idp-1', alg: 'RS256', use: 'sig' };
  const clients = {
    console: { id: 'thoth-console', secret: 'console-secret-0123456789abcdef' },
    other: { id: 'other-app', secret: 'other-secret-0123456789abcdef' },
    cli: { id: 'thoth-cli' },
  };
  // Listen first: the issuer names the port.
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: clients.console.id,
        client_secret: clients.console.secret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
      {
        client_id: clients.other.id,
        client_secret: clients.other.secret,
        redirect_uris: options.redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
      },
      {
        client_id: clients.cli.id,
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    async findAccount(_ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return {
        accountId: id,
        claims: () => ({
          sub: id,
          email: user.email,
          email_verified: true,
          name: user.name,
          groups: user.groups,
        }),
      };
    },
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
    scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
    // The groups claim in the ID token itself, as IdPs configured for group claims send it.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true }, deviceFlow: { enabled: true } },
    pkce: { required: () => true },
    jwks: { keys: [signingJwk] },
    cookies: { keys: ['test-idp-cookie-key-0123456789'] },
    ttl: { IdToken: options.idTokenTtlSeconds ?? 3_600 },
  });
  provider.proxy = false;
  const handle = provider.callback();
  const idp: TestIdp = {
    issuer,
    signingJwk,
    clients,
    tamperIdToken: undefined,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  server.on('request', (req, res) => {
    const tamper = idp.tamperIdToken;
    if (!tamper || req.method !== 'POST' || !req.url?.startsWith('/token')) return void handle(req, res);
    // The provider answers the token request with one res.end(body): rewrite that body's id_token.
    const end = res.end.bind(res) as (chunk?: unknown) => typeof res;
    res.end = ((chunk?: unknown) => {
      const body = JSON.parse(String(chunk)) as { id_token?: string };
      if (!body.id_token) return end(chunk);
      void tamper(body.id_token).then((idToken) => {
        const text = JSON.stringify({ ...body, id_token: idToken });
        res.setHeader('content-length', Buffer.byteLength(text));
        end(text);
      });
      return res;
    }) as typeof res.end;
    handle(req, res);
  });
  return idp;
}

/** A browser's cookie jar, enough to walk a sign-in by following redirects. */
export class CookieJar {
  private readonly cookies = new Map<string, Map<string, string>>();

  store(url: string, response: Response): void {
    const host = new URL(url).host;
    const jar = this.cookies.get(host) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attributes] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
    this.cookies.set(host, jar);
  }

  header(url: string): string {
    const jar = this.cookies.get(new URL(url).host);
    return jar ? [...jar].map(([k, v]) => `${k}=${v}`).join('; ') : '';
  }

  get(url: string, name: string): string | undefined {
    return this.cookies.get(new URL(url).host)?.get(name);
  }
}

/**
 * Follows a sign-in from `startUrl` like a browser: redirects, the IdP's login form (as `login`), its consent
 * form, until a response that is not a redirect or the IdP forms. Returns the last response and its URL.
 */
export async function signInThroughIdp(
  startUrl: string,
  login: string,
  jar = new CookieJar(),
): Promise<{ response: Response; url: string; jar: CookieJar }> {
  let url = startUrl;
  let init: RequestInit = { method: 'GET' };
  for (let hop = 0; hop < 20; hop++) {
    const headers = new Headers(init.headers);
    const cookie = jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, { ...init, headers, redirect: 'manual' });
    jar.store(url, response);
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      url = new URL(location, url).toString();
      init = { method: 'GET' };
      continue;
    }
    const body = response.headers.get('content-type')?.includes('text/html')
      ? await response.clone().text()
      : '';
    // Forms a browser submits without the person typing: the device flow's confirmation ("is this the code your
    // device shows?") and the page that posts the result back by script. Their hidden fields are posted.
    const automatic =
      /<form id="op.deviceConfirmForm" method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(body) ??
      (body.includes('document.forms[0].submit()')
        ? /<form method="post" action="([^"]+)">([\s\S]*?)<\/form>/.exec(body)
        : null);
    if (automatic) {
      const fields = new URLSearchParams();
      for (const input of automatic[2]!.matchAll(/name="([^"]+)" value="([^"]*)"/g))
        fields.set(input[1]!, input[2]!);
      url = new URL(automatic[1]!, url).toString();
      init = {
        method: 'POST',
        body: fields.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      };
      continue;
    }
    const form = /<form[^>]*action="([^"]+)"[^>]*method="post"/.exec(body);
    const prompt = /name="prompt" value="(\w+)"/.exec(body)?.[1];
    if (form && (prompt === 'login' || prompt === 'consent')) {
      const fields = new URLSearchParams({ prompt });
      if (prompt === 'login') {
        fields.set('login', login);
        fields.set('password', 'correct horse battery staple');
      }
      url = new URL(form[1]!.replaceAll('&amp;', '&'), url).toString();
      init = {
        method: 'POST',
        body: fields.toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      };
      continue;
    }
    return { response, url, jar };
  }
  throw new Error('too many redirects signing in');
}
