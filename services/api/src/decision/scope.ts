const TOOL_CALL_PREFIX = 'tool_call:';

/**
 * Normalizes a wire `approved_scope`: SDKs may prefix entries with `tool_call:` (stripped), and padding,
 * empty entries and duplicates carry no meaning. Order of first appearance is kept for readable reasons.
 */
export function normalizeScope(entries: readonly string[]): string[] {
  const scope: string[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    let name = entry.trim();
    if (name.startsWith(TOOL_CALL_PREFIX)) name = name.slice(TOOL_CALL_PREFIX.length).trim();
    if (name === '' || seen.has(name)) continue;
    seen.add(name);
    scope.push(name);
  }
  return scope;
}

/**
 * Whether `tool` may run under `scope` (a normalized scope). Matching is by exact tool name: no globs, no
 * case folding, because a scope is an allow-list and anything fuzzy would widen it silently.
 *
 * An EMPTY scope means "no scope restriction": SDKs send `[]` when the integrator configured no scope, and
 * treating that as "nothing is allowed" would block every call of every agent that never set one.
 */
export function isInScope(tool: string, scope: readonly string[]): boolean {
  return scope.length === 0 || scope.includes(tool);
}
