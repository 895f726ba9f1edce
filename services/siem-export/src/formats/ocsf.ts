import type { Severity, SiemEvent } from '../siem-event.ts';
import { PRODUCT } from './product.ts';

/**
 * OCSF JSON, valid for the version it declares (a sink option: 1.4.0 … 1.8.0, default the newest). Tool calls,
 * decisions, approvals and control-plane changes are API Activity (class 6003, category 6) with the Security
 * Control profile (1.4.0 on): the enforce decision is the control's action and disposition (ALLOW → Allowed,
 * BLOCK → Blocked, STEP_UP → Challenge, MODIFY → Corrected, DEFER → Delayed). Baseline findings are Detection
 * Finding (class 2004, category 2) with the Host profile, which brings its `actor`. Each object declares exactly
 * the profiles whose attributes it carries. Every event of the samples and of a set of hostile values is
 * validated against OCSF's own schema of each version (test/siem-standards.test.ts).
 */
export const OCSF_VERSIONS = ['1.4.0', '1.5.0', '1.6.0', '1.7.0', '1.8.0'] as const;
export type OcsfVersion = (typeof OCSF_VERSIONS)[number];
export const OCSF_VERSION: OcsfVersion = '1.8.0';

export type OcsfObject = Record<string, unknown>;

const SEVERITY_ID: Record<Severity, [number, string]> = {
  info: [1, 'Informational'],
  low: [2, 'Low'],
  medium: [3, 'Medium'],
  high: [4, 'High'],
  critical: [5, 'Critical'],
};

/** disposition_id and caption (OCSF dictionary), action_id and caption (security_control profile). */
const CONTROL: Record<SiemEvent['outcome'], { disposition: [number, string]; action: [number, string] }> = {
  allowed: { disposition: [1, 'Allowed'], action: [1, 'Allowed'] },
  blocked: { disposition: [2, 'Blocked'], action: [2, 'Denied'] },
  challenged: { disposition: [23, 'Challenge'], action: [2, 'Denied'] },
  modified: { disposition: [11, 'Corrected'], action: [4, 'Modified'] },
  deferred: { disposition: [14, 'Delayed'], action: [1, 'Allowed'] },
  logged: { disposition: [17, 'Logged'], action: [3, 'Observed'] },
  approved: { disposition: [8, 'Approved'], action: [1, 'Allowed'] },
  denied: { disposition: [25, 'Rejected'], action: [2, 'Denied'] },
  expired: { disposition: [2, 'Blocked'], action: [2, 'Denied'] },
  detected: { disposition: [15, 'Detected'], action: [3, 'Observed'] },
};

/**
 * OCSF's hostname_t (1.0 – 1.3 state it as this pattern: RFC 1123 labels joined by dots). An ingested hostname
 * that is not one (`worker_3.internal`) is still the endpoint's name, a free string: it goes to `name`.
 */
const HOSTNAME =
  /^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;

export function isOcsfHostname(value: string): boolean {
  return value.length <= 253 && HOSTNAME.test(value);
}

export function formatOcsf(event: SiemEvent, version: OcsfVersion = OCSF_VERSION): OcsfObject {
  return event.kind === 'finding' ? detectionFinding(event, version) : apiActivity(event, version);
}

function common(event: SiemEvent, version: OcsfVersion, profiles: string[]): OcsfObject {
  const [severityId, severity] = SEVERITY_ID[event.severity];
  return {
    time: event.time,
    severity_id: severityId,
    severity,
    message: event.message || event.title,
    metadata: {
      version,
      uid: event.id,
      tenant_uid: event.tenantId,
      correlation_uid: event.traceId ?? undefined,
      product: { name: PRODUCT.name, vendor_name: PRODUCT.vendor, version: PRODUCT.version },
      profiles,
      log_name: event.kind,
    },
  };
}

/** API Activity's CRUD activities, for control-plane changes (`api_key.revoke` deletes what the key allowed). */
const ADMIN_ACTIVITY: Record<string, [number, string]> = {
  create: [1, 'Create'],
  update: [3, 'Update'],
  delete: [4, 'Delete'],
  revoke: [4, 'Delete'],
};

function apiActivity(event: SiemEvent, version: OcsfVersion): OcsfObject {
  const { disposition, action } = CONTROL[event.outcome];
  const failed = event.outcome === 'blocked' || event.outcome === 'denied' || event.outcome === 'expired';
  // Tool calls are not CRUD: activity Other (99) with its own name, as the schema asks. Admin changes are.
  const [activityId, activity] =
    (event.kind === 'admin' && ADMIN_ACTIVITY[(event.reasonCode ?? '').split('.').pop() ?? '']) ||
    ([99, 'Other'] as [number, string]);
  const admin = event.kind === 'admin';
  return prune({
    activity_id: activityId,
    activity_name: activityId === 99 ? activityName(event) : activity,
    category_uid: 6,
    category_name: 'Application Activity',
    class_uid: 6003,
    class_name: 'API Activity',
    type_uid: 600300 + activityId,
    type_name: `API Activity: ${activity}`,
    ...common(event, version, ['security_control']),
    status_id: failed ? 2 : 1,
    status: failed ? 'Failure' : 'Success',
    status_detail: event.reasonCode ?? undefined,
    actor: {
      app_name: event.agentId,
      app_uid: event.agentId,
      user: event.userId ? { uid: event.userId, name: event.userId } : undefined,
      session: { uid: event.sessionId },
    },
    api: {
      operation: admin ? (event.reasonCode ?? 'change') : event.toolName,
      service: { name: admin ? 'thoth-control-plane' : 'agent-tool' },
      request: event.traceId ? { uid: event.traceId } : undefined,
    },
    src_endpoint: sourceEndpoint(event),
    action_id: action[0],
    action: action[1],
    disposition_id: disposition[0],
    disposition: disposition[1],
    is_alert: event.outcome === 'blocked' || event.outcome === 'challenged' || event.outcome === 'denied',
    risk_score: event.riskScore ?? undefined,
    policy: event.reasonCode ? { name: event.reasonCode, uid: event.violationId ?? undefined } : undefined,
    unmapped: {
      tenant_id: event.tenantId,
      decision: event.decision ?? undefined,
      violation_id: event.violationId ?? undefined,
      event_type: event.eventType,
    },
  });
}

/** The agent's host: a valid hostname as `hostname`, any other as the endpoint's `name`; else the agent. */
function sourceEndpoint(event: SiemEvent): OcsfObject {
  if (event.hostname === null || event.hostname === '') return { name: event.agentId };
  return isOcsfHostname(event.hostname)
    ? { name: event.agentId, hostname: event.hostname }
    : { name: event.hostname };
}

function activityName(event: SiemEvent): string {
  if (event.kind === 'decision') return 'Enforce Decision';
  if (event.kind === 'approval') return 'Approval';
  return `Tool Call ${event.eventType.replace(/^TOOL_CALL_/, '').toLowerCase()}`;
}

function detectionFinding(event: SiemEvent, version: OcsfVersion): OcsfObject {
  return prune({
    activity_id: 1,
    activity_name: 'Create',
    category_uid: 2,
    category_name: 'Findings',
    class_uid: 2004,
    class_name: 'Detection Finding',
    type_uid: 200401,
    type_name: 'Detection Finding: Create',
    // `actor` is the Host profile's.
    ...common(event, version, ['host']),
    status_id: 1,
    status: 'New',
    finding_info: {
      uid: event.id,
      title: event.title,
      desc: event.message,
      types: ['Behavioral Anomaly'],
      analytic: { name: event.detector ?? 'unknown', type_id: 2, type: 'Behavioral' },
      related_events: event.relatedEventIds.map((uid) => ({ uid })),
      created_time: event.time,
    },
    is_alert: !event.learning,
    risk_score: event.riskScore ?? undefined,
    resources: [{ name: event.toolName, type: 'agent-tool' }],
    actor: { app_name: event.agentId, app_uid: event.agentId, session: { uid: event.sessionId } },
    unmapped: { tenant_id: event.tenantId, detector: event.detector ?? undefined, learning: event.learning },
  });
}

/** Drops undefined members so golden files and SIEMs see absent attributes, not nulls. */
function prune<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
