import { type FormEvent, useState } from 'react';
import { ApiError, api, type SessionInfo } from '../lib/api.ts';

/** Paste a key (or the admin token) once: the server keeps it and gives this browser a session cookie. */
export function SignIn({
  onSignedIn,
  themeToggle,
}: {
  onSignedIn: (s: SessionInfo) => void;
  themeToggle: React.ReactNode;
}) {
  const [credential, setCredential] = useState('');
  const [tenant, setTenant] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
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
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Thoth console</h1>
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
