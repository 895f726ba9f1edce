import { SEVERITY_SCORE, type SiemEvent } from '../siem-event.ts';
import { PRODUCT } from './product.ts';

/**
 * Elastic Common Schema JSON of the version it declares (`ecs.version`): ECS fields where they exist, the rest under
 * `thoth.*` (a custom field set, not an ECS one). Validated against that version's ecs_flat.yml
 * (test/siem-standards.test.ts).
 */
export const ECS_VERSION = '9.4.0';

const EVENT_TYPE: Record<SiemEvent['outcome'], string[]> = {
  allowed: ['allowed'],
  blocked: ['denied'],
  challenged: ['denied'],
  modified: ['allowed', 'change'],
  deferred: ['info'],
  logged: ['access'],
  approved: ['allowed'],
  denied: ['denied'],
  expired: ['denied'],
  detected: ['indicator'],
};

export function formatEcs(event: SiemEvent): Record<string, unknown> {
  const finding = event.kind === 'finding';
  const failure = ['blocked', 'denied', 'expired', 'challenged'].includes(event.outcome);
  return JSON.parse(
    JSON.stringify({
      '@timestamp': new Date(event.time).toISOString(),
      ecs: { version: ECS_VERSION },
      message: event.message || event.title,
      event: {
        id: event.id,
        kind: finding ? 'alert' : 'event',
        category: finding ? ['intrusion_detection'] : ['api'],
        type: finding ? ['info'] : EVENT_TYPE[event.outcome],
        action: event.decision ?? event.eventType,
        outcome: finding ? 'unknown' : failure ? 'failure' : 'success',
        severity: SEVERITY_SCORE[event.severity],
        risk_score: event.riskScore ?? undefined,
        reason: event.reason ?? undefined,
        dataset: `thoth.${event.kind}`,
        module: 'thoth',
        provider: PRODUCT.name,
        created: new Date(event.time).toISOString(),
      },
      observer: {
        vendor: PRODUCT.vendor,
        product: PRODUCT.name,
        version: PRODUCT.version,
        type: 'agent-governance',
      },
      organization: { id: event.tenantId },
      user: event.userId ? { id: event.userId } : undefined,
      host: event.hostname ? { hostname: event.hostname } : undefined,
      trace: event.traceId ? { id: event.traceId } : undefined,
      rule: event.reasonCode
        ? { name: event.reasonCode, id: event.violationId ?? undefined, category: event.kind }
        : undefined,
      labels: { tenant_id: event.tenantId, agent_id: event.agentId, session_id: event.sessionId },
      thoth: {
        agent_id: event.agentId,
        session_id: event.sessionId,
        tool_name: event.toolName,
        event_type: event.eventType,
        decision: event.decision ?? undefined,
        outcome: event.outcome,
        violation_id: event.violationId ?? undefined,
        detector: event.detector ?? undefined,
        related_event_ids: event.relatedEventIds.length > 0 ? event.relatedEventIds : undefined,
        learning: finding ? event.learning : undefined,
      },
    }),
  ) as Record<string, unknown>;
}
