import { HttpError } from './http-error.ts';

/** Deeper than any real tool call; bounds every recursive walk (CEL, canonical JSON, stringify) downstream. */
export const MAX_JSON_DEPTH = 64;

/**
 * Parses a request body as JSON and refuses what the rest of the server must never see: nesting deeper than
 * MAX_JSON_DEPTH, and numbers JSON.parse turns into ±Infinity (e.g. 1e309). The check stops at that depth, so
 * hostile input cannot exhaust the stack here either. Throws a 400 HttpError.
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  // The walk below only matters for input that could hold either problem; an ordinary body is let through on
  // two cheap scans of its text (fewer openers than the depth bound; no number with a 3-digit exponent or
  // 309 digits, the only ways JSON.parse produces ±Infinity). Both scans may see false alarms in strings.
  if (!manyOpeners(text) && !MAYBE_HUGE_NUMBER.test(text)) return value;
  checkNode(value, 0);
  return value;
}

/** Recursive, but never deeper than MAX_JSON_DEPTH frames: hostile nesting is refused, not followed. */
function checkNode(node: unknown, depth: number): void {
  if (typeof node === 'number') {
    if (!Number.isFinite(node))
      throw new HttpError(400, 'invalid_json', 'the body contains a number too large to represent');
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if (depth >= MAX_JSON_DEPTH)
    throw new HttpError(400, 'invalid_json', `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (Array.isArray(node)) for (const child of node) checkNode(child, depth + 1);
  else for (const key in node) checkNode((node as Record<string, unknown>)[key], depth + 1);
}

const MAYBE_HUGE_NUMBER = /[eE][+]?\d{3}|\d{309}/;
/** Whether the text holds at least MAX_JSON_DEPTH `{` and `[` together (nesting can never be deeper). */
function manyOpeners(text: string): boolean {
  let count = 0;
  for (const opener of ['{', '[']) {
    for (let i = text.indexOf(opener); i !== -1; i = text.indexOf(opener, i + 1))
      if (++count >= MAX_JSON_DEPTH) return true;
  }
  return false;
}
