/**
 * Deterministic JSON text of a value: the bytes that decision receipts and the evidence chain hash and sign,
 * so two processes (or two releases) must print the same value identically.
 *
 * Rules (RFC 8785 "JCS"-compatible for the values Thoth produces: JSON data with finite numbers and
 * well-formed strings):
 * - No whitespace anywhere.
 * - Object members are sorted by key, comparing keys as sequences of UTF-16 code units (JavaScript's default
 *   string order, which is what RFC 8785 §3.2.3 prescribes); nested objects are sorted too.
 * - A member whose value is `undefined`, a function or a symbol is omitted (as `JSON.stringify` does);
 *   the same values inside an array print as `null`.
 * - Arrays keep their order.
 * - Numbers print as `JSON.stringify` prints them (the ECMAScript shortest round-trip form, which is RFC
 *   8785's number format; `-0` prints `0`). `NaN` and `±Infinity` are rejected with an error instead of
 *   silently becoming `null`. `bigint` is rejected (no JSON form).
 * - Strings are escaped as `JSON.stringify` escapes them: `"` `\` and control characters only (`\b \t \n \f
 *   \r` short forms, other controls as lowercase `\u00xx`), everything else literal UTF-8. A lone surrogate
 *   prints as a `\udxxx` escape (RFC 8785 has no form for it: I-JSON forbids it).
 * - A value with a `toJSON` method (e.g. `Date`) is replaced by its result first, like `JSON.stringify`.
 * - Cycles are rejected with an error.
 */
export function canonicalJson(value: unknown): string {
  const text = write(value, []);
  if (text === undefined) throw new TypeError(`canonicalJson: a top-level ${typeof value} has no JSON form`);
  return text;
}

// Every decision receipt is signed over this text, so it is on the enforce hot path: one string built by
// concatenation, and the ancestors (for the cycle check) on a stack as deep as the nesting, not in a Set.

/** Returns undefined for values JSON has no form for (omitted in objects, `null` in arrays). */
function write(input: unknown, ancestors: object[]): string | undefined {
  const value = hasToJson(input) ? input.toJSON() : input;
  switch (typeof value) {
    case 'string':
      return quote(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new RangeError(`canonicalJson: non-finite number ${value}`);
      return JSON.stringify(value);
    case 'bigint':
      throw new TypeError('canonicalJson: bigint has no JSON form');
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'object': {
      if (value === null) return 'null';
      if (ancestors.includes(value)) throw new TypeError('canonicalJson: cyclic structure');
      ancestors.push(value);
      const text = Array.isArray(value) ? writeArray(value, ancestors) : writeObject(value, ancestors);
      ancestors.pop();
      return text;
    }
  }
}

function writeArray(items: readonly unknown[], ancestors: object[]): string {
  let text = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) text += ',';
    text += write(items[i], ancestors) ?? 'null';
  }
  return `${text}]`;
}

function writeObject(object: object, ancestors: object[]): string {
  const record = object as Record<string, unknown>;
  let text = '{';
  // Default sort compares UTF-16 code units, exactly the order RFC 8785 requires.
  for (const key of Object.keys(record).sort()) {
    const member = write(record[key], ancestors);
    if (member === undefined) continue;
    if (text.length > 1) text += ',';
    text += `${quote(key)}:${member}`;
  }
  return `${text}}`;
}

/** What needs an escape in JSON text: `"`, `\\`, control characters and (lone) surrogates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** JSON.stringify of a string, without its cost for the common string that needs no escape. */
function quote(text: string): string {
  return NEEDS_ESCAPE.test(text) ? JSON.stringify(text) : `"${text}"`;
}

function hasToJson(value: unknown): value is { toJSON(): unknown } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  );
}
