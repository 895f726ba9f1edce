import { createHash } from 'node:crypto';
import { SEVERITY_SCORE, type SiemEvent } from '../siem-event.ts';
import { PRODUCT } from './product.ts';
import { fitValues, sanitizeText, truncateText } from './text.ts';

/**
 * ArcSight Common Event Format (CEF:0), per "Implementing ArcSight CEF" (rev. 25):
 *   CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
 * Header fields escape `\` and `|` with a backslash; extension values escape `\` and `=` and encode line
 * breaks as `\n` / `\r`; extension keys are alphanumeric. One event per line: no other control character is
 * written (see text.ts). Every field is held to its length in the CEF dictionary, cut with a visible marker;
 * the full values stay in the JSON formats (OCSF, ECS) and their sinks.
 */

/** Header lengths from the dictionary (characters). */
export const CEF_HEADER_LIMITS = {
  deviceVendor: 63,
  deviceProduct: 63,
  deviceVersion: 31,
  signatureId: 1023,
  name: 512,
} as const;

/** Extension lengths from the dictionary (characters), for every string key we write. */
export const CEF_EXTENSION_LIMITS: Readonly<Record<string, number>> = {
  externalId: 40,
  act: 63,
  outcome: 63,
  suser: 1023,
  dhost: 1023,
  cat: 1023,
  reason: 1023,
  msg: 1023,
  cs1: 4000,
  cs2: 4000,
  cs3: 4000,
  cs4: 4000,
  cs5: 4000,
  cs6: 4000,
  cs1Label: 1023,
  cs2Label: 1023,
  cs3Label: 1023,
  cs4Label: 1023,
  cs5Label: 1023,
  cs6Label: 1023,
  cn1Label: 1023,
  flexString1: 1023,
  flexString2: 1023,
  flexString1Label: 128,
  flexString2Label: 128,
};

/** What a line cut to fit a syslog message keeps whole: times, numbers, ids and labels. */
const UNCUT = new Set(['rt', 'externalId', 'cn1', 'cs6', 'cs1Label', 'cs2Label', 'cs3Label', 'cs4Label']);

export function escapeCefHeader(value: string): string {
  // The header is one line: a line break in a header field would split the event.
  return sanitizeText(value).replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
}

export function escapeCefExtension(value: string): string {
  return sanitizeText(value, true)
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/**
 * The dictionary's externalId holds 40 characters; event ids can be longer (a tenant prefix and a UUID). A
 * longer id is sent as a stable digest (`sha256:` and 32 hex digits, the same on every redelivery) and in
 * full as `cs6` (eventId, 4000 characters).
 */
export function cefExternalId(id: string): string {
  const clean = sanitizeText(id);
  if (clean.length <= CEF_EXTENSION_LIMITS.externalId!) return clean;
  return `sha256:${createHash('sha256').update(id).digest('hex').slice(0, 32)}`;
}

/** Dictionary keys first, then custom fields each preceded by its label, as ArcSight connectors expect. */
export function cefExtensions(event: SiemEvent): Array<[string, string]> {
  const dictionary: Array<[string, string | number | null]> = [
    ['rt', event.time],
    ['externalId', cefExternalId(event.id)],
    ['act', event.decision],
    ['outcome', event.outcome],
    ['suser', event.userId],
    ['dhost', event.hostname],
    ['cat', event.kind],
    ['reason', event.reason],
    // Decisions' message is their reason: said once.
    ['msg', event.message && event.message !== event.reason ? event.message : null],
  ];
  const custom: Array<[string, string, string | number | null]> = [
    ['cs1', 'tenantId', event.tenantId],
    ['cs2', 'agentId', event.agentId],
    ['cs3', 'sessionId', event.sessionId],
    ['cs4', 'toolName', event.toolName],
    ['cs5', 'reasonCode', event.reasonCode],
    ['cs6', 'eventId', event.id],
    ['cn1', 'riskScore', event.riskScore],
    ['flexString1', 'traceId', event.traceId],
    ['flexString2', 'violationId', event.violationId],
  ];
  const out: Array<[string, string]> = [];
  for (const [key, value] of dictionary) if (value !== null) out.push([key, String(value)]);
  for (const [key, label, value] of custom)
    if (value !== null) out.push([`${key}Label`, label], [key, String(value)]);
  return out.map(([key, value]) => [key, limit(value, CEF_EXTENSION_LIMITS[key])]);
}

function limit(value: string, max: number | undefined): string {
  return max === undefined ? value : truncateText(value, max);
}

export function signatureId(event: SiemEvent): string {
  if (event.kind === 'finding') return `thoth:finding:${event.detector ?? 'unknown'}`;
  if (event.kind === 'decision') return `thoth:decision:${(event.decision ?? 'unknown').toLowerCase()}`;
  if (event.kind === 'approval') return `thoth:approval:${event.outcome}`;
  if (event.kind === 'admin') return `thoth:admin:${event.reasonCode ?? 'change'}`;
  return `thoth:tool_call:${event.eventType.toLowerCase()}`;
}

function cefHeader(event: SiemEvent): string {
  return [
    'CEF:0',
    escapeCefHeader(limit(PRODUCT.vendor, CEF_HEADER_LIMITS.deviceVendor)),
    escapeCefHeader(limit(PRODUCT.name, CEF_HEADER_LIMITS.deviceProduct)),
    escapeCefHeader(limit(PRODUCT.version, CEF_HEADER_LIMITS.deviceVersion)),
    escapeCefHeader(limit(signatureId(event), CEF_HEADER_LIMITS.signatureId)),
    escapeCefHeader(limit(event.title, CEF_HEADER_LIMITS.name)),
    String(SEVERITY_SCORE[event.severity]),
  ].join('|');
}

function renderCef(header: string, extensions: Array<[string, string]>): string {
  return `${header}|${extensions.map(([k, v]) => `${k}=${escapeCefExtension(v)}`).join(' ')}`;
}

/**
 * One CEF line. With `maxBytes` (a syslog message's room), the longest values are cut further until the line
 * fits; undefined if it cannot.
 */
export function formatCef(event: SiemEvent): string;
export function formatCef(event: SiemEvent, maxBytes: number): string | undefined;
export function formatCef(event: SiemEvent, maxBytes?: number): string | undefined {
  const header = cefHeader(event);
  const extensions = cefExtensions(event);
  if (maxBytes === undefined) return renderCef(header, extensions);
  return fitValues(extensions, (values) => renderCef(header, values), maxBytes, UNCUT);
}
