import { ADMIN_AGENT_ID } from '../records.ts';
import {
  ENFORCEMENT_MODES,
  type EnforceRequest,
  ENFORCE_LIMITS as L,
  normalizeMode,
  wellFormed,
} from './enforce.ts';
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
  const fields = body as Record<string, unknown>;
  // In the schema's order, so the result has its keys in the order zod's parse gives them.
  const out: Record<string, unknown> = {};
  for (const [key, check] of FIELDS) {
    const value = check(fields[key]);
    if (value === REFUSED) return undefined;
    if (value !== undefined) out[key] = value;
  }
  return out as EnforceRequest;
}

/** A check's answer when the schema must decide: the value is invalid, or this check is not sure. */
const REFUSED: unique symbol = Symbol('refused');

/** One field: undefined when absent (and allowed to be), the value as the schema returns it, or REFUSED. */
type FieldCheck = (value: unknown) => unknown;

const id: FieldCheck = (value) => (isId(value) ? value : REFUSED);
const text =
  (maxLength: number, wellFormedOnly = false): FieldCheck =>
  (value) =>
    value === undefined || value === null || isText(value, maxLength, wellFormedOnly) ? value : REFUSED;
const nameList: FieldCheck = (value) => {
  if (value === undefined || value === null) return value;
  // The body's own array (zod's result is a copy): the body JSON.parse made is not used past validation.
  return isNameList(value) ? value : REFUSED;
};
/** The mode as the schema reads it (normalizeMode). */
const mode: FieldCheck = (value) => {
  if (value === undefined || value === null) return value;
  if (typeof value !== 'string') return REFUSED;
  const normalized = normalizeMode(value);
  return MODES.has(normalized) ? normalized : REFUSED;
};
const MODES: ReadonlySet<string> = new Set(ENFORCEMENT_MODES);
/** Any JSON within the budget (null too). */
const freeJson: FieldCheck = (value) =>
  value === undefined || jsonBudgetExceeded(value, FREE_JSON_BUDGET) === undefined ? value : REFUSED;
/** A JSON object within the budget, or null. zod copies a record member by member: so does this. */
const freeRecord: FieldCheck = (value) => {
  if (value === undefined || value === null) return value;
  // `__proto__` assigned member by member (as zod copies) would be the copy's prototype: the schema decides.
  if (!isPlainRecord(value) || Object.hasOwn(value, '__proto__')) return REFUSED;
  return jsonBudgetExceeded(value, FREE_JSON_BUDGET) === undefined ? { ...value } : REFUSED;
};

/** Every field of `enforceRequestSchema`, in its order; the test compares the results key order and all. */
const FIELDS: ReadonlyArray<readonly [string, FieldCheck]> = [
  ['agent_id', (value) => (value === ADMIN_AGENT_ID ? REFUSED : id(value))],
  ['tenant_id', id],
  ['tool_name', id],
  ['session_id', id],
  ['user_id', text(L.name)],
  ['session_tool_calls', nameList],
  ['approved_scope', nameList],
  ['enforcement_mode', mode],
  ['environment', text(L.text)],
  ['enforcement_trace_id', text(L.name, true)],
  ['tool_args', freeJson],
  ['session_intent', text(L.text)],
  ['purpose', text(L.text)],
  ['data_classification', text(L.text)],
  ['task_context', freeRecord],
  ['identity_binding', freeJson],
  ['metadata', freeRecord],
  ['request_id', text(L.name)],
  ['occurred_at', text(L.occurredAt)],
  ['endpoint_id', text(L.text)],
  ['fleet_id', text(L.text)],
  ['model_name', text(L.text)],
  ['model_provider', text(L.text)],
];

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= L.name && wellFormed(value);
}

function isText(value: unknown, maxLength: number, wellFormedOnly: boolean): boolean {
  return typeof value === 'string' && value.length <= maxLength && (!wellFormedOnly || wellFormed(value));
}

function isNameList(value: unknown): value is string[] {
  if (!Array.isArray(value) || value.length > L.list) return false;
  for (const name of value) if (typeof name !== 'string' || name.length > L.name) return false;
  return true;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** The fields the hand check reads, in order (its test holds them to the schema's). */
export const PLAIN_ENFORCE_FIELDS: readonly string[] = FIELDS.map(([name]) => name);
