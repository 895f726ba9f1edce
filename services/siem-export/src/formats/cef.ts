import { SEVERITY_SCORE, type SiemEvent } from '../siem-event.ts';
import { PRODUCT } from './product.ts';

/**
 * ArcSight Common Event Format (CEF:0), per "Implementing ArcSight CEF" (rev. 25):
 *   CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension
 * Header fields escape `\` and `|` with a backslash; extension values escape `\` and `=` and encode line
 * breaks as `\n` / `\r`; extension keys are alphanumeric. One event per line.
 */
export function escapeCefHeader(value: string): string {
  // The header is one line: a line break in a header field would split the event.
  return value
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r\n|\r|\n/g, ' ');
}

export function escapeCefExtension(value: string): string {
  return value
    .replace(/\\/g, '\\\\')
    .replace(/=/g, '\\=')
    .replace(/\r\n|\n/g, '\\n')
    .replace(/\r/g, '\\r');
}

/** Dictionary keys first, then custom fields each preceded by its label, as ArcSight connectors expect. */
export function cefExtensions(event: SiemEvent): Array<[string, string]> {
  const dictionary: Array<[string, string | number | null]> = [
    ['rt', event.time],
    ['externalId', event.id],
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
    ['cs6', 'violationId', event.violationId],
    ['cn1', 'riskScore', event.riskScore],
    ['flexString1', 'traceId', event.traceId],
  ];
  const out: Array<[string, string]> = [];
  for (const [key, value] of dictionary) if (value !== null) out.push([key, String(value)]);
  for (const [key, label, value] of custom)
    if (value !== null) out.push([`${key}Label`, label], [key, String(value)]);
  return out;
}

export function signatureId(event: SiemEvent): string {
  if (event.kind === 'finding') return `thoth:finding:${event.detector ?? 'unknown'}`;
  if (event.kind === 'decision') return `thoth:decision:${(event.decision ?? 'unknown').toLowerCase()}`;
  if (event.kind === 'approval') return `thoth:approval:${event.outcome}`;
  if (event.kind === 'admin') return `thoth:admin:${event.reasonCode ?? 'change'}`;
  return `thoth:tool_call:${event.eventType.toLowerCase()}`;
}

export function formatCef(event: SiemEvent): string {
  const header = [
    'CEF:0',
    escapeCefHeader(PRODUCT.vendor),
    escapeCefHeader(PRODUCT.name),
    escapeCefHeader(PRODUCT.version),
    escapeCefHeader(signatureId(event)),
    escapeCefHeader(event.title),
    String(SEVERITY_SCORE[event.severity]),
  ].join('|');
  const extension = cefExtensions(event)
    .map(([k, v]) => `${k}=${escapeCefExtension(v)}`)
    .join(' ');
  return `${header}|${extension}`;
}
