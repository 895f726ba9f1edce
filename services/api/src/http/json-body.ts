import { HttpError } from './http-error.ts';

/** Deeper than any real tool call; bounds every recursive walk (CEL, canonical JSON, stringify) downstream. */
export const MAX_JSON_DEPTH = 64;

/**
 * Object members (keys) one body may hold, all objects together. JSON.parse costs about 0.3 µs per distinct key
 * here, so a 5 MB body of distinct keys would hold the event loop for well over 100 ms; 100,000 members parse in
 * about 35 ms. An ingest of 2,000 events of 50 fields each still fits.
 */
export const MAX_BODY_MEMBERS = 100_000;

/**
 * Values one body may hold (array items and object members, counted as their separators and containers): even
 * empty objects cost JSON.parse about 0.2 µs each, and 5 MB of `{},` is 1.5 million of them.
 */
export const MAX_BODY_VALUES = 250_000;

/**
 * Parses a request body as JSON and refuses what the rest of the server must never see: nesting deeper than
 * MAX_JSON_DEPTH, more than MAX_BODY_MEMBERS keys, and numbers JSON.parse turns into ±Infinity (e.g. 1e309).
 * One pass over the text decides all three before JSON.parse runs (constant work per character: nothing
 * here can be made to backtrack). Throws an HttpError (400, or 413 for too many members).
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  const shape = scanJsonText(text);
  if (shape.tooDeep)
    throw new HttpError(400, 'invalid_json', `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
  if (shape.members > MAX_BODY_MEMBERS)
    throw new HttpError(
      413,
      'payload_too_large',
      `the body holds more than ${MAX_BODY_MEMBERS} object members (keys): send less per request`,
    );
  if (shape.values > MAX_BODY_VALUES)
    throw new HttpError(
      413,
      'payload_too_large',
      `the body holds more than ${MAX_BODY_VALUES} values (array items and objects): send less per request`,
    );
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
  if (shape.maybeHugeNumber) checkNumbers(value, 0);
  return value;
}

export interface JsonTextShape {
  /** Brackets outside strings opened deeper than MAX_JSON_DEPTH at some point. */
  tooDeep: boolean;
  /** `:` outside strings: object members, counted before any object is built. */
  members: number;
  /** `,`, `{` and `[` outside strings: at least the values less one per container. */
  values: number;
  /**
   * A number outside strings with an exponent (`1e308`, but also 250 digits then `e60`) or with 309 digits: the
   * only ways JSON.parse produces ±Infinity. Such a body is walked after parsing (false alarms pass there).
   */
  maybeHugeNumber: boolean;
}

/** One pass over JSON text, strings skipped (escapes included). Invalid JSON is left to JSON.parse. */
export function scanJsonText(text: string): JsonTextShape {
  let depth = 0;
  let tooDeep = false;
  let members = 0;
  let values = 0;
  let maybeHugeNumber = false;
  let digits = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: the next character is escaped
      else if (c === 34) inString = false;
      continue;
    }
    if (c >= 48 && c <= 57) {
      if (++digits >= 309) maybeHugeNumber = true;
      continue;
    }
    digits = 0;
    switch (c) {
      case 34: // "
        inString = true;
        break;
      case 123: // {
      case 91: // [
        values++;
        if (++depth > MAX_JSON_DEPTH) tooDeep = true;
        break;
      case 44: // ,
        values++;
        break;
      case 125: // }
      case 93: // ]
        depth--;
        break;
      case 58: // :
        members++;
        break;
      case 101: // e
      case 69: {
        // E: an exponent when a digit follows (after an optional sign); `true` and `false` never have one
        let j = i + 1;
        const sign = text.charCodeAt(j);
        if (sign === 43 || sign === 45) j++;
        if (isDigit(text.charCodeAt(j))) maybeHugeNumber = true;
      }
    }
    if (tooDeep) break;
  }
  return { tooDeep, members, values, maybeHugeNumber };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Recursive, but never deeper than MAX_JSON_DEPTH frames (the scan refused deeper text). */
function checkNumbers(node: unknown, depth: number): void {
  if (typeof node === 'number') {
    if (!Number.isFinite(node))
      throw new HttpError(400, 'invalid_json', 'the body contains a number too large to represent');
    return;
  }
  if (node === null || typeof node !== 'object' || depth >= MAX_JSON_DEPTH) return;
  if (Array.isArray(node)) for (const child of node) checkNumbers(child, depth + 1);
  else for (const key in node) checkNumbers((node as Record<string, unknown>)[key], depth + 1);
}
