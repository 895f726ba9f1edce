import { describe, expect, it } from 'vitest';
import { SsoConfigError, ssoConfigFrom } from './sso-config.ts';

const base = {
  issuer: 'https://login.example.com',
  client_id: 'thoth',
  client_secret_env: 'OIDC_SECRET',
  redirect_uri: 'https://thoth.example.com/console/api/sso/callback',
  tenants: { acme: { roles: { payments: 'approver', soc: 'viewer' } } },
};

describe('THOTH_SSO_CONFIG', () => {
  it('resolves a tenant’s provider (secret from the environment, openid always requested) and roles', () => {
    const config = ssoConfigFrom({ ...base, scopes: ['email', 'groups'] }, { OIDC_SECRET: 's3cret' });
    expect(config.tenant('acme')).toEqual({
      provider: {
        issuer: 'https://login.example.com',
        clientId: 'thoth',
        clientSecret: 's3cret',
        scopes: ['openid', 'email', 'groups'],
        groupsClaim: 'groups',
        cliClientId: undefined,
        allowHttp: false,
      },
      roles: { payments: 'approver', soc: 'viewer' },
    });
    expect(config.tenant('globex')).toBeUndefined();
    expect(config.sessionTtlMs).toBeUndefined();
  });

  it('a tenant may have its own IdP', () => {
    const config = ssoConfigFrom(
      {
        redirect_uri: base.redirect_uri,
        tenants: {
          globex: {
            provider: { issuer: 'https://globex.okta.com', client_id: 'g', client_secret: 'x' },
            roles: { admins: 'admin' },
          },
        },
      },
      {},
    );
    expect(config.tenant('globex')?.provider).toMatchObject({
      issuer: 'https://globex.okta.com',
      clientId: 'g',
    });
  });

  it('refuses what would fail later, naming the field', () => {
    expect(() => ssoConfigFrom(base, {})).toThrow(
      /client_secret_env: environment variable OIDC_SECRET is not set/,
    );
    expect(() =>
      ssoConfigFrom({ ...base, issuer: 'http://login.example.com' }, { OIDC_SECRET: 's' }),
    ).toThrow(/issuer: must be https/);
    expect(() =>
      ssoConfigFrom(
        { ...base, tenants: { acme: { roles: { payments: 'superuser' } } } },
        { OIDC_SECRET: 's' },
      ),
    ).toThrow(/tenants.acme.roles.payments/);
    expect(() =>
      ssoConfigFrom({ redirect_uri: base.redirect_uri, tenants: { acme: { roles: {} } } }, {}),
    ).toThrow(SsoConfigError);
    expect(() => ssoConfigFrom({ ...base, redirect_uri: 'not a url' }, { OIDC_SECRET: 's' })).toThrow(
      /redirect_uri/,
    );
  });
});
