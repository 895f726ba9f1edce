import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { ErrorNote } from '../components.tsx';
import { api, isTenantAdmin, type SessionInfo } from '../lib/api.ts';

interface KeyRow {
  key_id: string;
  name: string;
  permissions: string[];
  agent_id: string | null;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  expires_at: string | null;
}

const PERMISSIONS = ['execute', 'write', 'read', 'admin'] as const;

/** API keys of the tenant (admin): last use, create (the secret shown once), revoke. */
export function KeysView({ session }: { session: SessionInfo }) {
  const t = encodeURIComponent(session.tenant_id);
  const queryClient = useQueryClient();
  const keys = useQuery({
    queryKey: ['keys', session.tenant_id],
    queryFn: () => api<{ api_keys: KeyRow[] }>(`/${t}/thoth/api-keys`),
    enabled: isTenantAdmin(session),
  });
  const [secret, setSecret] = useState<string | undefined>();
  const create = useMutation({
    mutationFn: (body: { name: string; permissions: string[]; agent_id?: string }) =>
      api<{ api_key: string }>(`/${t}/thoth/api-keys`, { method: 'POST', body }),
    onSuccess: (r) => {
      setSecret(r.api_key);
      void queryClient.invalidateQueries({ queryKey: ['keys'] });
    },
  });
  const revoke = useMutation({
    mutationFn: (keyId: string) =>
      api(`/${t}/thoth/api-keys/${encodeURIComponent(keyId)}`, { method: 'DELETE' }),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ['keys'] }),
  });
  if (!isTenantAdmin(session))
    return (
      <section>
        <h1>Keys</h1>
        <p>Managing keys needs the admin permission.</p>
      </section>
    );
  const submit = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const data = new FormData(event.currentTarget);
    const agent = String(data.get('agent_id') ?? '').trim();
    create.mutate({
      name: String(data.get('name') ?? ''),
      permissions: PERMISSIONS.filter((p) => data.get(`perm-${p}`) === 'on'),
      ...(agent ? { agent_id: agent } : {}),
    });
  };
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <form onSubmit={submit} className="filters" aria-label="Create a key">
        <label>
          <span>Name</span>
          <input name="name" required />
        </label>
        <label>
          <span>Agent (optional)</span>
          <input name="agent_id" />
        </label>
        <fieldset>
          <legend>Permissions</legend>
          {PERMISSIONS.map((p) => (
            <label key={p} className="inline">
              <input type="checkbox" name={`perm-${p}`} defaultChecked={p === 'read'} /> {p}
            </label>
          ))}
        </fieldset>
        <button type="submit">Create key</button>
      </form>
      <ErrorNote error={create.error ?? revoke.error ?? keys.error} />
      {secret && (
        <div className="verdict valid" role="status">
          New key (shown once, copy it now): <code data-testid="new-secret">{secret}</code>{' '}
          <button type="button" className="ghost" onClick={() => setSecret(undefined)}>
            Done
          </button>
        </div>
      )}
      <table className="table" aria-label="API keys">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Key id</th>
            <th scope="col">Permissions</th>
            <th scope="col">Agent</th>
            <th scope="col">Last used</th>
            <th scope="col">State</th>
            <th scope="col" />
          </tr>
        </thead>
        <tbody>
          {(keys.data?.api_keys ?? []).map((k) => (
            <tr key={k.key_id}>
              <td>{k.name}</td>
              <td className="mono small">{k.key_id}</td>
              <td>{k.permissions.join(', ')}</td>
              <td>{k.agent_id ?? '—'}</td>
              <td>{k.last_used_at ?? 'never'}</td>
              <td>{k.revoked_at ? 'revoked' : 'active'}</td>
              <td>
                {!k.revoked_at && (
                  <button
                    type="button"
                    className="danger"
                    onClick={() => {
                      if (window.confirm(`Revoke key ${k.name}?`)) revoke.mutate(k.key_id);
                    }}
                  >
                    Revoke
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
