import type { SiemEvent } from '../siem-event.ts';
import { formatCef } from './cef.ts';
import { formatEcs } from './ecs.ts';
import { DEFAULT_LEEF_DELIMITER, formatLeef } from './leef.ts';
import { formatOcsf, OCSF_VERSION, type OcsfVersion } from './ocsf.ts';
import { fitValues } from './text.ts';

export const FORMATS = ['cef', 'leef', 'ocsf', 'ecs'] as const;
export type FormatName = (typeof FORMATS)[number];
/** Line formats are strings (CEF, LEEF); JSON formats are objects (OCSF, ECS). */
export type Formatted = string | Record<string, unknown>;

/** A sink's format settings. */
export interface FormatOptions {
  ocsfVersion: OcsfVersion;
  leefDelimiter: string;
}

export const DEFAULT_FORMAT_OPTIONS: FormatOptions = {
  ocsfVersion: OCSF_VERSION,
  leefDelimiter: DEFAULT_LEEF_DELIMITER,
};

export function formatEvent(
  format: FormatName,
  event: SiemEvent,
  options: FormatOptions = DEFAULT_FORMAT_OPTIONS,
): Formatted {
  switch (format) {
    case 'cef':
      return formatCef(event);
    case 'leef':
      return formatLeef(event, options.leefDelimiter);
    case 'ocsf':
      return formatOcsf(event, options.ocsfVersion);
    case 'ecs':
      return formatEcs(event);
  }
}

/**
 * JSON on one line that any line-oriented reader keeps whole: JSON.stringify already escapes C0 controls; DEL,
 * the C1 controls (NEL) and U+2028 / U+2029 are escaped too (`\u0085`: the same JSON value).
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(
    /[\u007f-\u009f\u2028\u2029]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** One line of text: a syslog MSG, an NDJSON file line. */
export function asLine(formatted: Formatted): string {
  return typeof formatted === 'string' ? formatted : jsonLine(formatted);
}

/**
 * The event as one line of at most `maxBytes` UTF-8 octets (a syslog message's room): the line as it is when it
 * fits, else the longest values cut, each marked, until it does — CEF and LEEF keys and JSON structure stay
 * whole. Undefined when it cannot fit.
 */
export function fitLine(
  format: FormatName,
  event: SiemEvent,
  formatted: Formatted,
  maxBytes: number,
  options: FormatOptions = DEFAULT_FORMAT_OPTIONS,
): string | undefined {
  const line = asLine(formatted);
  if (Buffer.byteLength(line, 'utf8') <= maxBytes) return line;
  if (format === 'cef') return formatCef(event, maxBytes);
  if (format === 'leef') return formatLeef(event, options.leefDelimiter, maxBytes);
  if (typeof formatted === 'string') return undefined;
  return fitJson(formatted, maxBytes);
}

/** Cuts the longest strings of a JSON object (each marked) until its line fits; undefined if it cannot. */
export function fitJson(value: Record<string, unknown>, maxBytes: number): string | undefined {
  const leaves: Array<[string, string]> = [];
  const paths: Array<Array<string | number>> = [];
  const collect = (node: unknown, path: Array<string | number>) => {
    if (typeof node === 'string') {
      leaves.push([String(leaves.length), node]);
      paths.push(path);
    } else if (Array.isArray(node)) {
      for (const [i, child] of node.entries()) collect(child, [...path, i]);
    } else if (node !== null && typeof node === 'object')
      for (const [key, child] of Object.entries(node)) collect(child, [...path, key]);
  };
  collect(value, []);
  const rebuild = (strings: Array<[string, string]>) => {
    const copy = structuredClone(value);
    for (const [i, [, text]] of strings.entries()) setPath(copy, paths[i]!, text);
    return jsonLine(copy);
  };
  return fitValues(leaves, rebuild, maxBytes);
}

function setPath(root: Record<string, unknown>, path: Array<string | number>, text: string): void {
  let node: unknown = root;
  for (const key of path.slice(0, -1)) node = (node as Record<string | number, unknown>)[key];
  (node as Record<string | number, unknown>)[path[path.length - 1]!] = text;
}
