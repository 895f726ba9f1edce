/**
 * How a JavaScript call's arguments travel as `tool_args` (docs/protocol.md §Tool argument shapes) and how a
 * MODIFY decision's `modified_tool_args` is put back into the call. Pure.
 *
 * Sent shapes:
 * - a call with exactly one plain-object argument sends that object itself, so policies read `args.amount`
 *   and a MODIFY replaces the object whole;
 * - any other call sends `{"args":[…]}` (JavaScript has no keyword arguments), so policies read `args.arg0`.
 */

export type JsonObject = Record<string, unknown>;

export type SentArgsShape = 'dict' | 'call';

export interface WireToolArgs {
  shape: SentArgsShape;
  toolArgs: JsonObject;
}

export function isPlainObject(value: unknown): value is JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `{"args":[…]}` (optionally with a `kwargs` object) is how the server recognizes a call shape. */
function looksLikeCallShape(value: JsonObject): boolean {
  return (
    Array.isArray(value.args) &&
    Object.keys(value).every((key) => key === 'args' || (key === 'kwargs' && isPlainObject(value.kwargs)))
  );
}

export function toWireToolArgs(args: readonly unknown[]): WireToolArgs {
  const [only] = args;
  // A lone dict that itself looks like `{"args":[…]}` would be misread as a call, so it is wrapped.
  if (args.length === 1 && isPlainObject(only) && !looksLikeCallShape(only)) {
    const safe = jsonSafe(only);
    if (isPlainObject(safe)) return { shape: 'dict', toolArgs: safe };
  }
  return { shape: 'call', toolArgs: { args: args.map(jsonSafe) } };
}

export type AppliedArgs = { ok: true; args: unknown[] } | { ok: false; message: string };

const INDEXED_KEY = /^arg(\d+)$/;

/**
 * The call's new arguments after a MODIFY, by docs/protocol.md §MODIFY apply rules, in order:
 * 1. an `args` array replaces the positionals; keyword arguments (`kwargs`, non-empty) are merged into a
 *    trailing options object, or appended as one — the JavaScript spelling of keyword arguments;
 * 2. else, when the call was a single dict argument, the object replaces it whole;
 * 3. else `arg0`, `arg1`, … (or `input`) replace the positionals they name.
 * Anything else cannot be applied; the caller must not run the tool with the unmodified arguments.
 */
export function applyModifiedArgs(
  original: readonly unknown[],
  sent: SentArgsShape,
  modified: unknown,
): AppliedArgs {
  if (isPlainObject(modified) && Array.isArray(modified.args)) {
    const positionals = [...modified.args];
    const kwargs = modified.kwargs;
    if (isPlainObject(kwargs) && Object.keys(kwargs).length > 0) {
      const last = positionals.at(-1);
      if (isPlainObject(last)) positionals[positionals.length - 1] = { ...last, ...kwargs };
      else positionals.push({ ...kwargs });
    }
    return { ok: true, args: positionals };
  }
  if (sent === 'dict' && isPlainObject(modified)) return { ok: true, args: [modified] };
  if (isPlainObject(modified)) {
    const keys = Object.keys(modified);
    if (keys.length === 1 && keys[0] === 'input') return { ok: true, args: [modified.input] };
    if (keys.length > 0 && keys.every((key) => INDEXED_KEY.test(key))) {
      const args = [...original];
      for (const key of keys) args[Number(INDEXED_KEY.exec(key)?.[1])] = modified[key];
      return { ok: true, args };
    }
  }
  return { ok: false, message: 'modified_tool_args has a shape the SDK cannot apply to this call' };
}

/**
 * The JSON-safe copy of a value that goes on the wire: tool arguments are arbitrary (BigInt, cycles,
 * functions) and must never make governance or telemetry throw. BigInt becomes a string; a value that
 * still cannot be serialized (a cycle) becomes a marker string.
 */
export function jsonSafe(value: unknown): unknown {
  try {
    const text = JSON.stringify(value, (_key, member: unknown) =>
      typeof member === 'bigint' ? member.toString() : member,
    );
    return text === undefined ? null : JSON.parse(text);
  } catch {
    return '[unserializable]';
  }
}
