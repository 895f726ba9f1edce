import { SEVERITY_SCORE, type SiemEvent } from '../siem-event.ts';
import { signatureId } from './cef.ts';
import { PRODUCT } from './product.ts';

/**
 * IBM QRadar Log Event Extended Format 2.0:
 *   LEEF:2.0|Vendor|Product|Version|EventID|DelimiterCharacter|key=value<delim>key=value…
 * We declare tab (`x09`, LEEF 1.0's fixed separator) as the delimiter. LEEF has no escape for the delimiter
 * inside a value, so tabs and line breaks in values become spaces; header fields escape `\` and `|`.
 * Attributes use QRadar's predefined keys (devTime, sev, cat, usrName, …) plus Thoth's own.
 */
const DELIMITER = '\t';
const TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX";

export function escapeLeefHeader(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/[\r\n\t]+/g, ' ');
}

export function leefValue(value: string): string {
  return value.replace(/[\r\n\t]+/g, ' ');
}

export function formatLeef(event: SiemEvent): string {
  const attributes: Array<[string, string]> = [
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
  const header = [
    'LEEF:2.0',
    escapeLeefHeader(PRODUCT.vendor),
    escapeLeefHeader(PRODUCT.name),
    escapeLeefHeader(PRODUCT.version),
    escapeLeefHeader(signatureId(event)),
    'x09',
  ].join('|');
  return `${header}|${attributes.map(([k, v]) => `${k}=${leefValue(v)}`).join(DELIMITER)}`;
}

function optional(key: string, value: string | number | null): Array<[string, string]> {
  return value === null ? [] : [[key, String(value)]];
}
