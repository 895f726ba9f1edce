import { ADMIN_AGENT_ID } from '../records.ts';
import { ENFORCEMENT_MODES, type EnforceRequest } from './enforce.ts';
import { FREE_JSON_BUDGET, jsonBudgetExceeded } from './json-budget.ts';

/**
 * The enforce body as `enforceRequestSchema.parse` returns it, checked by hand for the bodies SDKs send; undefined
 * for anything this check is not sure of (the schema then decides, and names the field at fault). zod's parse is
 * about a tenth of the enforce path's own CPU in the server; this is a few lookups per field. Only for what
 * JSON.parse returns (no `undefined` values, no class instances). `enforce-plain.test.ts` holds it to the schema:
 * whatever this accepts, the schema accepts with the same result.
 */
export function plainEnforceRequest(body: unknown): EnforceRequest | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return undefined;
  const b = body as Record<string, unknown>;
  const { agent_id, tenant_id, tool_name, session_id } = b;
  if (
    !isId(agent_id) ||
    agent_id === ADMIN_AGENT_ID ||
    !isId(tenant_id) ||
    !isId(tool_name) ||
    !isId(session_id)
  )
    return undefined;
  const out: Record<string, unknown> = { agent_id, tenant_id, tool_name, session_id };
  for (const [key, maxLength, wellFormedOnly] of TEXT_FIELDS) {
    const value = b[key];
    if (value === undefined) continue;
    if (value !== null && !isText(value, maxLength, wellFormedOnly)) return undefined;
    out[key] = value;
  }
  for (const key of NAME_LISTS) {
    const value = b[key];
    if (value === undefined) continue;
    if (value !== null) {
      if (!isNameList(value)) return undefined;
      out[key] = value.slice(); // zod's result is a new array too
    } else out[key] = null;
  }
  const mode = b.enforcement_mode;
  if (mode !== undefined) {
    if (mode === null) out.enforcement_mode = null;
    else {
      if (typeof mode !== 'string') return undefined;
      const normalized = normalizeMode(mode);
      if (!MODES.has(normalized)) return undefined;
      out.enforcement_mode = normalized;
    }
  }
  for (const key of FREE_JSON) {
    const value = b[key];
    if (value === undefined) continue;
    if (jsonBudgetExceeded(value, FREE_JSON_BUDGET) !== undefined) return undefined;
    out[key] = value;
  }
  for (const key of FREE_RECORDS) {
    const value = b[key];
    if (value === undefined) continue;
    if (value === null) {
      out[key] = null;
      continue;
    }
    // zod copies a record member by member, and `__proto__` assigned that way would be the copy's prototype.
    if (!isPlainRecord(value) || Object.hasOwn(value, '__proto__')) return undefined;
    if (jsonBudgetExceeded(value, FREE_JSON_BUDGET) !== undefined) return undefined;
    out[key] = { ...value };
  }
  return out as EnforceRequest;
}

/** The mode as the schema reads it: any case, `-` for `_` (its first occurrence, as the schema does). */
const normalizeMode = (mode: string) => mode.toLowerCase().replace('-', '_');
const MODES: ReadonlySet<string> = new Set(ENFORCEMENT_MODES);

/** Strings with their schema's bound: [field, max length, must be well-formed Unicode]. */
const TEXT_FIELDS: ReadonlyArray<readonly [string, number, boolean]> = [
  ['user_id', 512, false],
  ['enforcement_trace_id', 512, true],
  ['request_id', 512, false],
  ['occurred_at', 64, false],
  ...['environment', 'session_intent', 'purpose', 'data_classification'].map(
    (k) => [k, 4_096, false] as const,
  ),
  ...['endpoint_id', 'fleet_id', 'model_name', 'model_provider'].map((k) => [k, 4_096, false] as const),
];
const NAME_LISTS = ['session_tool_calls', 'approved_scope'] as const;
const FREE_JSON = ['tool_args', 'identity_binding'] as const;
const FREE_RECORDS = ['task_context', 'metadata'] as const;

// String.prototype.isWellFormed (ES2024, in every Node this runs on) is outside the ES2023 lib the project types with.
const wellFormed = (s: string) => (s as unknown as { isWellFormed(): boolean }).isWellFormed();

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= 512 && wellFormed(value);
}

function isText(value: unknown, maxLength: number, wellFormedOnly: boolean): boolean {
  return typeof value === 'string' && value.length <= maxLength && (!wellFormedOnly || wellFormed(value));
}

function isNameList(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length > 10_000) return false;
  for (const name of value) if (typeof name !== 'string' || name.length > 512) return false;
  return true;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
