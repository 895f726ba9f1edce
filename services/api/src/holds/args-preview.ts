/**
 * A preview of a held call's arguments for the person who approves it: enough to judge the call, without the
 * secrets it may carry. Values under secret-looking keys (arrays and objects whole), and strings or numbers
 * that look like card numbers, bearer tokens, private keys or Thoth keys, become "[REDACTED]"; long strings
 * are cut; the whole preview is bounded. Pure. (Redaction before storage and export is the configurable
 * Redactor's; this is the approver's view.)
 */
import { createRedactor, DEFAULT_REDACTION_GROUPS, isSecretFieldName } from '@thoth/platform';

export const REDACTED = '[REDACTED]';
// Broader than the Redactor's secret names (card numbers, SSNs, PINs too): the approver's view is always strict.
const SECRET_KEY =
  /pass(word|phrase)?|secret|token|api[-_]?key|auth(orization)?|credential|private[-_]?key|card[-_]?(number|no)?|cvv|cvc|ssn|pin$/i;
const isSecretKey = (key: string): boolean => SECRET_KEY.test(key) || isSecretFieldName(key);
// Every built-in pattern, whatever THOTH_REDACT_PATTERNS says (e-mails stay visible): the approver's view is always strict.
const strict = createRedactor({ groups: DEFAULT_REDACTION_GROUPS });
const looksSecret = (value: string | number): boolean => strict.value(value) !== value;
const MAX_STRING = 200;
const MAX_DEPTH = 8;
const MAX_ITEMS = 50;

export function redactedPreview(value: unknown): unknown {
  return walk(value, 0);
}

function walk(value: unknown, depth: number): unknown {
  if (typeof value === 'string') {
    if (looksSecret(value)) return REDACTED;
    return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  }
  if (typeof value === 'number') return looksSecret(value) ? REDACTED : value;
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '…';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => walk(v, depth + 1));
    return value.length > MAX_ITEMS ? [...items, `… ${value.length - MAX_ITEMS} more`] : items;
  }
  // No prototype: a member named `__proto__` stays a member (see the redactor's walk).
  const out: Record<string, unknown> = Object.create(null);
  // The whole value under a secret key, arrays and objects included.
  for (const [key, v] of Object.entries(value).slice(0, MAX_ITEMS))
    out[key] = v !== null && isSecretKey(key) ? REDACTED : walk(v, depth + 1);
  return out;
}
