import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { json, stubFetch } from '../test/helpers.tsx';
import { SignIn } from './SignIn.tsx';

const KEY = 'thoth_live_SUPERSECRETKEYMATERIAL0123456789abcdefgh';

/** Nothing of the key may be left in web storage or cookies the page can read. */
function keyNowhere() {
  const stores = [window.localStorage, window.sessionStorage];
  for (const store of stores)
    for (let i = 0; i < store.length; i++)
      expect(store.getItem(store.key(i) ?? '')).not.toContain('SUPERSECRET');
  expect(document.cookie).not.toContain('SUPERSECRET');
}

describe('SignIn', () => {
  it('shows the API’s error for a bad key and keeps the key out of storage', async () => {
    const fetchMock = stubFetch(() => json({ error: 'unauthorized', message: 'unknown API key' }, 401));
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} themeToggle={null} />);
    const submit = screen.getByRole('button', { name: 'Sign in' });
    expect(submit).toHaveProperty('disabled', true); // nothing to send yet
    fireEvent.change(screen.getByLabelText('API key or admin token'), { target: { value: KEY } });
    fireEvent.click(submit);
    expect((await screen.findByRole('alert')).textContent).toBe('unknown API key');
    expect(onSignedIn).not.toHaveBeenCalled();
    const [url, init] = fetchMock.mock.calls[0] ?? [];
    expect(String(url)).toBe('/console/api/session');
    expect(init?.method).toBe('POST');
    expect(JSON.parse(String(init?.body))).toEqual({ credential: KEY });
    keyNowhere();
  });

  it('says so when sign-in is rate limited', async () => {
    stubFetch(() =>
      json({ error: 'rate_limited', message: 'too many failed sign-ins: try again in 42 s' }, 429),
    );
    render(<SignIn onSignedIn={() => {}} themeToggle={null} />);
    fireEvent.change(screen.getByLabelText('API key or admin token'), { target: { value: 'x' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toContain('try again in 42 s');
  });

  it('on success hands over the session, clears the field and stores nothing of the key', async () => {
    const session = {
      signed_in: true,
      tenant_id: 'acme-corp',
      method: 'admin-token',
      label: 'admin token',
      permissions: ['read'],
      agent_id: null,
      csrf_token: 'c',
      expires_at: '2099-01-01T00:00:00Z',
    };
    const fetchMock = stubFetch(() => json(session));
    const onSignedIn = vi.fn();
    render(<SignIn onSignedIn={onSignedIn} themeToggle={null} />);
    const field = screen.getByLabelText('API key or admin token') as HTMLInputElement;
    expect(field.type).toBe('password');
    fireEvent.change(field, { target: { value: KEY } });
    fireEvent.change(screen.getByLabelText('Tenant (admin token only)'), {
      target: { value: ' acme-corp ' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalledWith(session));
    expect(field.value).toBe('');
    expect(JSON.parse(String(fetchMock.mock.calls[0]?.[1]?.body))).toEqual({
      credential: KEY,
      tenant: 'acme-corp',
    });
    keyNowhere();
  });

  it('offers single sign-on when configured: it leaves for the identity provider with the tenant', () => {
    const assign = vi.fn();
    vi.stubGlobal('location', { ...window.location, assign });
    try {
      render(<SignIn onSignedIn={() => {}} themeToggle={null} ssoEnabled />);
      const button = screen.getByRole('button', { name: 'Sign in with single sign-on' });
      expect(button).toHaveProperty('disabled', true);
      fireEvent.change(screen.getByLabelText('Tenant'), { target: { value: 'acme-corp ' } });
      fireEvent.click(button);
      expect(assign).toHaveBeenCalledWith('/console/api/sso/start?tenant=acme-corp');
    } finally {
      vi.unstubAllGlobals();
    }
  });

  it('without single sign-on there is only the key form', () => {
    render(<SignIn onSignedIn={() => {}} themeToggle={null} />);
    expect(screen.queryByRole('button', { name: 'Sign in with single sign-on' })).toBeNull();
  });
});
