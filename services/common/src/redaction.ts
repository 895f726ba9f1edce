/**
 * Secret redaction for everything Thoth stores or exports: tool arguments, event content and metadata are
 * passed through a `Redactor` where they enter Thoth (ingest, the enforce path's decision event), before they
 * reach the bus — so the audit trail, the SIEM exports and every other consumer never see the secrets.
 * Pure: patterns are compiled once; `value`/`text` never mutate their input.
 */

/** Built-in pattern groups, by the name THOTH_REDACT_PATTERNS uses. */
export const REDACTION_GROUPS = [
  'api_keys',
  'bearer_tokens',
  'card_numbers',
  'private_keys',
  'secret_fields',
  'emails',
] as const;
export type RedactionGroup = (typeof REDACTION_GROUPS)[number];
/** On unless configured otherwise; e-mail addresses are opt-in (often the data an agent legitimately works on). */
export const DEFAULT_REDACTION_GROUPS: readonly RedactionGroup[] = [
  'api_keys',
  'bearer_tokens',
  'card_numbers',
  'private_keys',
  'secret_fields',
];

export const redactedMark = (what: string): string => `[REDACTED:${what}]`;
/** Already a redaction mark (ours, or the approver preview's `[REDACTED]`): redacting is idempotent. */
const isMark = (v: unknown): boolean => typeof v === 'string' && /^\[REDACTED(?::[a-z_]+)?\]$/.test(v);

interface TextPattern {
  name: string;
  regex: RegExp;
  /** No match of `regex` is shorter: shorter strings skip it (most values in tool calls are short). */
  minLength: number;
  /** Extra check on a match (a card number must pass Luhn), else the match stays. */
  accept?: (match: string) => boolean;
  /** What replaces the match (default: the mark). Bearer keeps its scheme word so the text still reads. */
  replace?: (match: string) => string;
}

const TEXT_PATTERNS: Record<Exclude<RedactionGroup, 'secret_fields'>, TextPattern[]> = {
  api_keys: [
    { name: 'api_key', regex: /\bthoth_(?:live|test|admin)_[A-Za-z0-9_-]{16,}/g, minLength: 27 },
    { name: 'api_key', regex: /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}/g, minLength: 23 },
    { name: 'api_key', regex: /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}/g, minLength: 16 },
    { name: 'api_key', regex: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, minLength: 20 },
    { name: 'api_key', regex: /\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, minLength: 34 },
    { name: 'api_key', regex: /\bxox[abprs]-[A-Za-z0-9-]{10,}/g, minLength: 15 },
    { name: 'api_key', regex: /\bAIza[0-9A-Za-z_-]{35}\b/g, minLength: 39 },
  ],
  bearer_tokens: [
    {
      name: 'bearer_token',
      regex: /\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
      minLength: 14,
      replace: (m) => `${m.split(/\s+/)[0]} ${redactedMark('bearer_token')}`,
    },
    { name: 'jwt', regex: /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g, minLength: 20 },
  ],
  card_numbers: [
    // 13-19 digits, optionally grouped by spaces or dashes, starting like a payment card (2-6) and passing
    // Luhn: timestamps and ids rarely do both.
    {
      name: 'card_number',
      regex: /\b[2-6](?:[ -]?\d){12,18}\b/g,
      accept: (m) => luhn(m.replace(/\D/g, '')),
      minLength: 13,
    },
  ],
  private_keys: [
    {
      name: 'private_key',
      regex: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/g,
      minLength: 27,
    },
  ],
  emails: [{ name: 'email', regex: /\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b/g, minLength: 6 }],
};

/** Object keys whose scalar values are secrets whatever they look like. */
const SECRET_FIELD =
  /^(?:pass(?:word|phrase)?|secret|client[-_]?secret|token|access[-_]?token|refresh[-_]?token|api[-_]?key|x[-_]api[-_]key|apikey|authorization|auth|credentials?|private[-_]?key|cvv|cvc)$/i;

const MAX_DEPTH = 64;

export interface RedactionConfig {
  groups: readonly RedactionGroup[];
  /** Extra regular expressions (source text); matches become [REDACTED:custom]. */
  custom?: readonly string[];
}

export interface Redactor {
  /** The text with every match replaced by a [REDACTED:<what>] mark. */
  text(value: string): string;
  /** A deep copy with secret strings (and secret fields' scalar values) redacted. */
  value<T>(value: T): T;
  /** JSON text of `value`, redacted; null stays null. */
  json(value: unknown): string | null;
}

export function createRedactor(config: RedactionConfig): Redactor {
  const patterns: TextPattern[] = [];
  for (const group of config.groups) if (group !== 'secret_fields') patterns.push(...TEXT_PATTERNS[group]);
  for (const source of config.custom ?? [])
    patterns.push({ name: 'custom', regex: new RegExp(source, 'g'), minLength: 0 });
  const fields = config.groups.includes('secret_fields');

  const text = (input: string): string => {
    let out = input;
    for (const p of patterns) {
      if (out.length < p.minLength) continue;
      p.regex.lastIndex = 0;
      if (!p.regex.test(out)) continue;
      p.regex.lastIndex = 0;
      out = out.replace(p.regex, (match) => {
        if (p.accept && !p.accept(match)) return match;
        return p.replace ? p.replace(match) : redactedMark(p.name);
      });
    }
    return out;
  };

  const walk = (input: unknown, depth: number): unknown => {
    if (typeof input === 'string') return text(input);
    if (input === null || typeof input !== 'object') return input;
    // Deeper than any real payload: drop it rather than store what was not inspected.
    if (depth >= MAX_DEPTH) return redactedMark('too_deep');
    if (Array.isArray(input)) return input.map((v) => walk(v, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(input))
      out[key] =
        fields && SECRET_FIELD.test(key) && v !== null && typeof v !== 'object' && v !== '' && !isMark(v)
          ? redactedMark('secret_field')
          : walk(v, depth + 1);
    return out;
  };

  return {
    text,
    value: <T>(value: T) => walk(value, 0) as T,
    json: (value) => (value === undefined || value === null ? null : JSON.stringify(walk(value, 0))),
  };
}

/** Redacts nothing: for code paths that are handed already-redacted data. */
export const noRedaction: Redactor = {
  text: (v) => v,
  value: (v) => v,
  json: (v) => (v === undefined || v === null ? null : JSON.stringify(v)),
};

/** Whether a pattern list compiles (config validation names the bad one). */
export function invalidCustomPattern(sources: readonly string[]): string | undefined {
  for (const source of sources) {
    try {
      new RegExp(source, 'g');
    } catch {
      return source;
    }
  }
  return undefined;
}

function luhn(digits: string): boolean {
  if (digits.length < 13 || digits.length > 19) return false;
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}
