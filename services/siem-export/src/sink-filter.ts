import { type SiemEvent, severityAtLeast } from './siem-event.ts';
import type { SinkConfig } from './sink-config.ts';

/** Whether a sink wants an event: its tenant (`*` for all), then event types, decisions and minimum severity. */
export function sinkWants(sink: Pick<SinkConfig, 'tenant' | 'filters'>, event: SiemEvent): boolean {
  if (sink.tenant !== '*' && sink.tenant !== event.tenantId) return false;
  const { event_types, decisions, min_severity } = sink.filters;
  if (event_types && !event_types.includes(event.eventType)) return false;
  if (decisions && (event.decision === null || !decisions.includes(event.decision))) return false;
  if (min_severity && !severityAtLeast(event.severity, min_severity)) return false;
  return true;
}
