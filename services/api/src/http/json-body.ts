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
 * Characters scanned in one turn of the event loop. A 5 MB body is scanned in about 20 slices with the loop free
 * between them; each slice takes a millisecond or two. Bodies up to this size (every ordinary request) are scanned
 * in the turn they arrive, with no extra hop.
 */
export const SCAN_SLICE_CHARS = 256 * 1024;

/**
 * Bodies up to this many characters are parsed first and walked after: JSON.parse cannot be made slow by so
 * little text, and neither limit on members or values can be reached in it. The walk of an enforce body costs a
 * fraction of the scan's character loop (about 1.5 µs for 400 characters). The verdict is the scan's; only a
 * body with two faults may be refused for the other one (invalid and too deep: "not valid JSON"; a huge number
 * walked before a too deep part: "too large"), always 400 `invalid_json`.
 */
export const SMALL_BODY_CHARS = 16 * 1024;

/**
 * Parses a request body as JSON and refuses what the rest of the server must never see: nesting deeper than
 * MAX_JSON_DEPTH, more than MAX_BODY_MEMBERS keys or MAX_BODY_VALUES values, and numbers JSON.parse turns into
 * ±Infinity (e.g. 1e309). A larger body is decided by one pass over the text before JSON.parse runs (constant
 * work per character: nothing here can be made to backtrack), in slices that give the event loop back between
 * them, stopping as soon as a limit is passed; a small one (SMALL_BODY_CHARS) is parsed, then walked. Rejects
 * with an HttpError (400, or 413 for too many members or values).
 */
export async function parseJsonBody(text: string): Promise<unknown> {
  if (text.length <= SMALL_BODY_CHARS) return parseSmallJson(text);
  if (text.trim() === '') return undefined;
  const scanner = new JsonTextScanner(text);
  scanner.scan(SCAN_SLICE_CHARS);
  while (!scanner.done()) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    scanner.scan(SCAN_SLICE_CHARS);
  }
  const shape = scanner.shape();
  if (shape.tooDeep) throw tooDeep();
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
  const value = parseText(text);
  // The scan refused deeper text, so the walk finds nothing too deep here.
  if (shape.maybeHugeNumber) checkParsed(value, 0);
  return value;
}

/**
 * parseJsonBody for a callback-style parser (fastify's content-type parsers): a small body is answered within the
 * call, with no promise and no extra turn of the microtask queue on the enforce path; a larger one once its scan
 * ends. `done` is called exactly once, and never inside this function's try: an error it throws is not taken for
 * the body's (a small body's goes to the caller, as with fastify's own parser; a large one's rejects the promise
 * `then` made, as with fastify's async parsers).
 */
export function parseJsonBodyThen(text: string, done: (error: Error | null, value?: unknown) => void): void {
  if (text.length > SMALL_BODY_CHARS) {
    parseJsonBody(text).then(
      (value) => done(null, value),
      (error: Error) => done(error),
    );
    return;
  }
  let value: unknown;
  try {
    value = parseSmallJson(text);
  } catch (error) {
    done(error as Error);
    return;
  }
  done(null, value);
}

function parseSmallJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  const value = parseText(text);
  checkParsed(value, 0);
  return value;
}

function parseText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new HttpError(400, 'invalid_json', 'the body is not valid JSON');
  }
}

const tooDeep = () =>
  new HttpError(400, 'invalid_json', `the body is nested deeper than ${MAX_JSON_DEPTH} levels`);
const tooLarge = () =>
  new HttpError(400, 'invalid_json', 'the body contains a number too large to represent');

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

/**
 * The whole text at once (counts stop growing once a limit is passed). `sliceChars` scans it in slices of that
 * size, as parseJsonBody does between turns of the event loop: the shape is the same for every slice size.
 */
export function scanJsonText(text: string, sliceChars = text.length): JsonTextShape {
  const scanner = new JsonTextScanner(text);
  do scanner.scan(Math.max(1, sliceChars));
  while (!scanner.done());
  return scanner.shape();
}

/**
 * One pass over JSON text, strings skipped (escapes included), that can stop after any number of characters and
 * go on later. It stops for good at the first limit passed: the answer is known then. Invalid JSON is left to
 * JSON.parse.
 */
class JsonTextScanner {
  private position = 0;
  private depth = 0;
  private tooDeep = false;
  private members = 0;
  private values = 0;
  private maybeHugeNumber = false;
  private digits = 0;
  private inString = false;

  constructor(private readonly text: string) {}

  done(): boolean {
    return (
      this.position >= this.text.length ||
      this.tooDeep ||
      this.members > MAX_BODY_MEMBERS ||
      this.values > MAX_BODY_VALUES
    );
  }

  shape(): JsonTextShape {
    return {
      tooDeep: this.tooDeep,
      members: this.members,
      values: this.values,
      maybeHugeNumber: this.maybeHugeNumber,
    };
  }

  /** Scans up to `chars` more characters. Locals in the loop: this is the hot part of every request. */
  scan(chars: number): void {
    const text = this.text;
    const end = Math.min(text.length, this.position + chars);
    let { depth, tooDeep, members, values, maybeHugeNumber, digits, inString } = this;
    let i = this.position;
    for (; i < end; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (c === 92)
          i++; // backslash: the next character is escaped (it may be the first of the next slice)
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
          // E: an exponent when a digit follows (after an optional sign); `true` and `false` never have one.
          // The look-ahead may read past this slice: the whole text is at hand.
          let j = i + 1;
          const sign = text.charCodeAt(j);
          if (sign === 43 || sign === 45) j++;
          if (isDigit(text.charCodeAt(j))) maybeHugeNumber = true;
        }
      }
      if (tooDeep || members > MAX_BODY_MEMBERS || values > MAX_BODY_VALUES) {
        i++;
        break;
      }
    }
    this.position = i;
    this.depth = depth;
    this.tooDeep = tooDeep;
    this.members = members;
    this.values = values;
    this.maybeHugeNumber = maybeHugeNumber;
    this.digits = digits;
    this.inString = inString;
  }
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/**
 * A parsed body: no container deeper than MAX_JSON_DEPTH (counted as the scan counts brackets: the outer one is
 * level 1) and no non-finite number. Recursive, never more than MAX_JSON_DEPTH + 1 frames.
 */
function checkParsed(node: unknown, depth: number): void {
  if (typeof node === 'number') {
    if (!Number.isFinite(node)) throw tooLarge();
    return;
  }
  if (node === null || typeof node !== 'object') return;
  if (depth >= MAX_JSON_DEPTH) throw tooDeep();
  if (Array.isArray(node)) for (const child of node) checkParsed(child, depth + 1);
  else for (const key in node) checkParsed((node as Record<string, unknown>)[key], depth + 1);
}
