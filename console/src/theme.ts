/** Light or dark: the visitor's system choice until they pick one (kept in localStorage; not a secret). */
export type Theme = 'light' | 'dark';
const KEY = 'thoth-console-theme';

export function initialTheme(): Theme {
  const stored = window.localStorage.getItem(KEY);
  if (stored === 'light' || stored === 'dark') return stored;
  return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme: Theme): void {
  document.documentElement.dataset.theme = theme;
  window.localStorage.setItem(KEY, theme);
}
