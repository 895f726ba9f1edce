import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { render } from '@testing-library/react';
import type { ReactNode } from 'react';
import { vi } from 'vitest';
import type { SessionInfo } from '../lib/api.ts';

export function session(overrides: Partial<SessionInfo> = {}): SessionInfo {
  return {
    signed_in: true,
    tenant_id: 'acme-corp',
    method: 'api-key',
    label: 'analyst',
    permissions: ['read'],
    agent_id: null,
    csrf_token: 'csrf',
    expires_at: '2099-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function renderWithQuery(ui: ReactNode) {
  const client = new QueryClient({
    defaultOptions: { queries: { retry: false, refetchOnWindowFocus: false } },
  });
  // A wrapper (not a parent element): `rerender` keeps the provider.
  const wrapper = ({ children }: { children: ReactNode }) => (
    <QueryClientProvider client={client}>{children}</QueryClientProvider>
  );
  return { client, ...render(ui, { wrapper }) };
}

export const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** Stubs fetch with a router: `(url, init) => Response`; every call is recorded. */
export function stubFetch(route: (url: URL, init: RequestInit | undefined) => Response | Promise<Response>) {
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) =>
    route(new URL(String(input), 'http://console.test'), init),
  );
  vi.stubGlobal('fetch', fetchMock);
  return fetchMock;
}

/** An EventSource that never connects (the live tail is not under test). */
export class IdleEventSource {
  static readonly CLOSED = 2;
  readyState = 0;
  onopen: (() => void) | null = null;
  onerror: (() => void) | null = null;
  constructor(readonly url: string) {}
  addEventListener() {}
  close() {
    this.readyState = 2;
  }
}
