import { type QueryClient, useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState } from 'react';
import {
  api,
  isTenantAdmin,
  type SessionInfo,
  type SessionState,
  setCsrfToken,
  setUnauthorizedHandler,
} from './lib/api.ts';
import { navigate, useLocation } from './lib/router.ts';
import { applyTheme, initialTheme, type Theme } from './theme.ts';
import { AgentsView } from './views/AgentsView.tsx';
import { ApprovalsView } from './views/ApprovalsView.tsx';
import { EvidenceView } from './views/EvidenceView.tsx';
import { FeedView } from './views/FeedView.tsx';
import { KeysView } from './views/KeysView.tsx';
import { OverviewView } from './views/OverviewView.tsx';
import { PoliciesView } from './views/PoliciesView.tsx';
import { SessionView } from './views/SessionView.tsx';
import { SignIn } from './views/SignIn.tsx';

/** Drops every cached read except the session query itself (its observer must keep seeing updates). */
function forgetData(queryClient: QueryClient): void {
  queryClient.removeQueries({ predicate: (q) => q.queryKey[0] !== 'console-session' });
}

interface NavItem {
  path: string;
  label: string;
  /** Shown only when the session may use it (the API refuses anyway). */
  visible: (s: SessionInfo) => boolean;
}
const NAV: NavItem[] = [
  { path: '/', label: 'Overview', visible: () => true },
  { path: '/feed', label: 'Live feed', visible: () => true },
  { path: '/sessions', label: 'Sessions', visible: () => true },
  { path: '/agents', label: 'Agents', visible: () => true },
  { path: '/approvals', label: 'Approvals', visible: () => true },
  { path: '/evidence', label: 'Evidence', visible: () => true },
  { path: '/policies', label: 'Policies', visible: () => true },
  { path: '/keys', label: 'Keys', visible: isTenantAdmin },
];

export function App() {
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => applyTheme(theme), [theme]);
  const queryClient = useQueryClient();
  const session = useQuery({
    queryKey: ['console-session'],
    queryFn: async () => {
      const state = await api<SessionState>('/console/api/session');
      return state.signed_in ? state : null;
    },
    staleTime: Number.POSITIVE_INFINITY,
  });
  const info = session.data ?? null;
  // Asked only on the sign-in page: whether to offer single sign-on.
  const sso = useQuery({
    queryKey: ['console-sso'],
    queryFn: () => api<{ enabled: boolean }>('/console/api/sso'),
    enabled: !session.isPending && !info,
    staleTime: Number.POSITIVE_INFINITY,
  });
  useEffect(() => setCsrfToken(info?.csrf_token), [info]);
  useEffect(() => {
    setUnauthorizedHandler(() => queryClient.setQueryData(['console-session'], null));
    return () => setUnauthorizedHandler(undefined);
  }, [queryClient]);

  const themeToggle = (
    <button
      type="button"
      className="ghost"
      onClick={() => setTheme(theme === 'dark' ? 'light' : 'dark')}
      aria-label={`Switch to ${theme === 'dark' ? 'light' : 'dark'} theme`}
    >
      {theme === 'dark' ? '☀ Light' : '☾ Dark'}
    </button>
  );

  if (session.isPending) return <p className="loading">Loading…</p>;
  if (!info)
    return (
      <SignIn
        themeToggle={themeToggle}
        ssoEnabled={sso.data?.enabled === true}
        onSignedIn={(s) => {
          setCsrfToken(s.csrf_token);
          forgetData(queryClient);
          queryClient.setQueryData(['console-session'], s);
        }}
      />
    );
  return <Shell session={info} themeToggle={themeToggle} />;
}

function Shell({ session, themeToggle }: { session: SessionInfo; themeToggle: React.ReactNode }) {
  const location = useLocation();
  const queryClient = useQueryClient();
  const [leaving, setLeaving] = useState(false);
  const signOut = async () => {
    // The views (and their polling) go first, so no read runs after the session ended; the sign-in page comes
    // once the server answered (its response clears the cookie: a sign-in before it would lose its own).
    setLeaving(true);
    await queryClient.cancelQueries();
    await api('/console/api/session', { method: 'DELETE' }).catch(() => undefined);
    setCsrfToken(undefined);
    forgetData(queryClient);
    queryClient.setQueryData(['console-session'], null);
    navigate('/');
  };
  if (leaving) return <p className="loading">Signing out…</p>;
  const section = `/${location.path.split('/')[1] ?? ''}`;
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Thoth</span>
        <span className="who" data-testid="who">
          {session.label} · tenant <strong>{session.tenant_id}</strong> ·{' '}
          {session.person ? `role ${session.person.role}` : session.permissions.join(', ')}
          {session.agent_id ? ` · agent ${session.agent_id}` : ''}
        </span>
        {themeToggle}
        <button type="button" className="ghost" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav className="sidenav" aria-label="Console views">
        <ul>
          {NAV.filter((n) => n.visible(session)).map((n) => (
            <li key={n.path}>
              <a
                href={`/console${n.path}`}
                aria-current={section === n.path ? 'page' : undefined}
                onClick={(e) => {
                  e.preventDefault();
                  navigate(n.path);
                }}
              >
                {n.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Route session={session} path={location.path} params={location.params} />
      </main>
    </div>
  );
}

function Route({ session, path, params }: { session: SessionInfo; path: string; params: URLSearchParams }) {
  const [, section, id] = path.split('/').map(decodeURIComponent);
  switch (section) {
    case '':
    case undefined:
      return <OverviewView session={session} />;
    case 'feed':
      return <FeedView session={session} params={params} />;
    case 'sessions':
      return <SessionView session={session} sessionId={id ?? params.get('id') ?? ''} />;
    case 'agents':
      return <AgentsView session={session} agentId={id} />;
    case 'approvals':
      return <ApprovalsView session={session} params={params} />;
    case 'evidence':
      return <EvidenceView session={session} params={params} />;
    case 'policies':
      return <PoliciesView session={session} params={params} />;
    case 'keys':
      return <KeysView session={session} />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>No console view at {path}.</p>
        </section>
      );
  }
}
