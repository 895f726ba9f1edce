import { useSyncExternalStore } from 'react';

/** Every view has its URL (path + query), so a view with its filters can be shared. */
export const BASE = '/console';

const listeners = new Set<() => void>();
const notify = () => {
  for (const l of listeners) l();
};
if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

const subscribe = (listener: () => void) => {
  listeners.add(listener);
  return () => listeners.delete(listener);
};
const snapshot = () => `${window.location.pathname}${window.location.search}`;

export interface Location {
  /** The path below /console, e.g. "/feed" or "/sessions/s1". */
  path: string;
  params: URLSearchParams;
}

export function parseLocation(href: string): Location {
  const url = new URL(href, 'http://x');
  const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) || '/' : url.pathname;
  return { path: path === '' ? '/' : path, params: url.searchParams };
}

export function useLocation(): Location {
  return parseLocation(useSyncExternalStore(subscribe, snapshot));
}

/** Goes to a console path ("/feed?agent_id=x"); `replace` for filter edits so Back leaves the view. */
export function navigate(to: string, replace = false): void {
  const url = `${BASE}${to}`;
  if (replace) window.history.replaceState(null, '', url);
  else window.history.pushState(null, '', url);
  notify();
}

/** The console path with `params` as its query (empty values dropped). */
export function withParams(path: string, params: Record<string, string | undefined>): string {
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v) search.set(k, v);
  const text = search.toString();
  return text ? `${path}?${text}` : path;
}
