import { SEVERITY_SCORE, type SiemEvent } from '../siem-event.ts';
import { signatureId } from './cef.ts';
import { PRODUCT } from './product.ts';
import { fitValues, sanitizeText, truncateText } from './text.ts';

/**
 * IBM QRadar Log Event Extended Format 2.0:
 *   LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<delim>key=value…
 * The delimiter is `^` by default (the one IBM's examples use; a printable character survives syslog relays,
 * where a tab arrives as `#011`), configurable per sink. LEEF has no escape for the delimiter inside a value, so
 * it becomes a space there; control characters are replaced as in text.ts. Header fields escape `\` and `|`.
 * Attributes use QRadar's predefined keys (devTime, sev, cat, usrName, …) plus Thoth's own.
 */
export const DEFAULT_LEEF_DELIMITER = '^';
/**
 * Delimiters a sink may choose: one printable ASCII character that is not part of a key, of `key=`, of the header
 * (`|`) or of an escape (a backslash).
 */
export const LEEF_DELIMITERS = '!"#$%&\'()*+,-./:;<>?@[]^`{}~';
const TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX";
const EVENT_ID_MAX = 255;

/** What a message cut to fit a syslog message keeps whole. */
const UNCUT = new Set(['devTime', 'devTimeFormat', 'sev', 'externalId', 'riskScore']);

export function escapeLeefHeader(value: string): string {
  return sanitizeText(value).replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

export function leefValue(value: string, delimiter: string = DEFAULT_LEEF_DELIMITER): string {
  return sanitizeText(value).split(delimiter).join(' ');
}

export function leefAttributes(event: SiemEvent): Array<[string, string]> {
  return [
    ['devTime', new Date(event.time).toISOString()],
    ['devTimeFormat', TIME_FORMAT],
    ['sev', String(SEVERITY_SCORE[event.severity])],
    ['cat', event.kind],
    ...optional('usrName', event.userId),
    ['externalId', event.id],
    ...optional('action', event.decision),
    ['outcome', event.outcome],
    ...optional('reason', event.reason),
    ...optional('msg', event.message || null),
    ...optional('dstHostName', event.hostname),
    ['tenantId', event.tenantId],
    ['agentId', event.agentId],
    ['sessionId', event.sessionId],
    ['toolName', event.toolName],
    ...optional('reasonCode', event.reasonCode),
    ...optional('violationId', event.violationId),
    ...optional('riskScore', event.riskScore),
    ...optional('traceId', event.traceId),
  ];
}

function leefHeader(event: SiemEvent, delimiter: string): string {
  return [
    'LEEF:2.0',
    escapeLeefHeader(PRODUCT.vendor),
    escapeLeefHeader(PRODUCT.name),
    escapeLeefHeader(PRODUCT.version),
    // The header is never cut to fit a syslog message: its event id (a detector's name…) is kept short.
    escapeLeefHeader(truncateText(signatureId(event), EVENT_ID_MAX)),
    delimiter,
  ].join('|');
}

/**
 * One LEEF 2.0 line. With `maxBytes` (a syslog message's room), the longest values are cut, marked, until the
 * line fits; undefined if it cannot.
 */
export function formatLeef(event: SiemEvent, delimiter?: string): string;
export function formatLeef(event: SiemEvent, delimiter: string, maxBytes: number): string | undefined;
export function formatLeef(
  event: SiemEvent,
  delimiter: string = DEFAULT_LEEF_DELIMITER,
  maxBytes?: number,
): string | undefined {
  if (delimiter.length !== 1 || !LEEF_DELIMITERS.includes(delimiter))
    throw new Error(`unusable LEEF delimiter ${JSON.stringify(delimiter)}`);
  const header = leefHeader(event, delimiter);
  const attributes = leefAttributes(event).map(([k, v]): [string, string] => [k, leefValue(v, delimiter)]);
  const render = (values: Array<[string, string]>) =>
    `${header}|${values.map(([k, v]) => `${k}=${v}`).join(delimiter)}`;
  if (maxBytes === undefined) return render(attributes);
  return fitValues(attributes, render, maxBytes, UNCUT);
}

function optional(key: string, value: string | number | null): Array<[string, string]> {
  return value === null ? [] : [[key, String(value)]];
}
