import { type FormEvent, useState } from 'react';
import { ApiError, api, type SessionInfo } from '../lib/api.ts';

/**
 * Sign in with the identity provider (single sign-on, when configured), or paste a key (or the admin token) once:
 * either way the server keeps the credential and gives this browser a session cookie.
 */
export function SignIn({
  onSignedIn,
  themeToggle,
  ssoEnabled = false,
}: {
  onSignedIn: (s: SessionInfo) => void;
  themeToggle: React.ReactNode;
  /** Single sign-on is configured (`GET /console/api/sso`): offer it first. */
  ssoEnabled?: boolean;
}) {
  const [credential, setCredential] = useState('');
  const [tenant, setTenant] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const [ssoTenant, setSsoTenant] = useState('');
  // Single sign-on leaves for the identity provider, which sends the browser back with a session cookie.
  const signInWithSso = (event: FormEvent) => {
    event.preventDefault();
    window.location.assign(`/console/api/sso/start?tenant=${encodeURIComponent(ssoTenant.trim())}`);
  };
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      const session = await api<SessionInfo>('/console/api/session', {
        method: 'POST',
        body: { credential, tenant: tenant.trim() || undefined },
      });
      setCredential(''); // nothing of the key stays in the page
      onSignedIn(session);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : 'sign-in failed');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      {ssoEnabled && (
        <form onSubmit={signInWithSso} aria-labelledby="sso-title">
          <h1 id="sso-title">Thoth console</h1>
          <p className="muted">Sign in with your organization's identity provider.</p>
          <label htmlFor="sso-tenant">Tenant</label>
          <input
            id="sso-tenant"
            value={ssoTenant}
            onChange={(e) => setSsoTenant(e.target.value)}
            placeholder="acme-corp"
            required
          />
          <div className="row">
            <button type="submit" disabled={ssoTenant.trim() === ''}>
              Sign in with single sign-on
            </button>
          </div>
        </form>
      )}
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">{ssoEnabled ? 'Or with a key' : 'Thoth console'}</h1>
        <p className="muted">
          Paste an API key, or the admin token with a tenant. The server keeps it; this browser only gets a
          session cookie.
        </p>
        <label htmlFor="credential">API key or admin token</label>
        <input
          id="credential"
          type="password"
          autoComplete="off"
          value={credential}
          onChange={(e) => setCredential(e.target.value)}
          required
        />
        <label htmlFor="tenant">Tenant (admin token only)</label>
        <input
          id="tenant"
          value={tenant}
          onChange={(e) => setTenant(e.target.value)}
          placeholder="acme-corp"
        />
        {error && (
          <p role="alert" className="error">
            {error}
          </p>
        )}
        <div className="row">
          <button type="submit" disabled={busy || credential === ''}>
            Sign in
          </button>
          {themeToggle}
        </div>
      </form>
    </main>
  );
}
