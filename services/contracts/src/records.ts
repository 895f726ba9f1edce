/**
 * TypeScript shapes of the Avro records in schemas/avro/. Kept by hand next to the .avsc files; the codec test
 * round-trips a full value of each through its schema, so a drift between the two fails a test.
 * Timestamps are epoch milliseconds; free-form objects are JSON text (`*_json`).
 */

export interface BehavioralEvent {
  event_id: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  user_id: string;
  source_type: string;
  event_type: string;
  tool_name: string;
  content: string | null;
  metadata_json: string;
  approved_scope: string[];
  enforcement_mode: string | null;
  session_tool_calls: string[];
  occurred_at: number;
  ingested_at: number;
  ttl: string | null;
  violation_id: string | null;
  purpose: string | null;
  data_classification: string | null;
  task_context_json: string | null;
  endpoint_id: string | null;
  hostname: string | null;
  enforcement_trace_id: string | null;
  chain_index: number | null;
  hash: string | null;
  previous_hash: string | null;
  signature: string | null;
}

export interface DecisionEvent {
  event_id: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  user_id: string;
  tool_name: string;
  decision: string;
  would_be_decision: string;
  enforcement_mode: string;
  environment: string;
  reason: string;
  reason_code: string;
  action_classification: string;
  violation_id: string;
  enforcement_trace_id: string;
  risk_score: number;
  matched_rule_ids: string[];
  model_signals: string[];
  top_contributors_json: string;
  decision_evidence_json: string;
  tool_args_json: string | null;
  modified_tool_args_json: string | null;
  hold_token: string | null;
  policy_version: number;
  latency_us: number;
  receipt_signature: string;
  receipt_key_id: string;
  request_id: string | null;
  purpose: string | null;
  data_classification: string | null;
  occurred_at: number;
  /** What a dry run needs to decide the call again (a `DecisionReplay` as JSON); null in older events. */
  replay_json?: string | null;
  /** A Merkle receipt's batch head and audit path (docs/receipts.md); null for a per-decision receipt. */
  receipt_json?: string | null;
}

export interface DirectiveRecord {
  tenant_id: string;
  agent_id: string;
  session_id: string | null;
  tool_name: string | null;
  level: 'warn' | 'step_up' | 'block';
  score: number;
  reason: string;
  reason_code: string;
  finding_ids: string[];
  contributions: Array<{ feature: string; points: number }>;
  signals: string[];
  updated_at: number;
  expires_at: number;
}

export type FindingSeverity = 'info' | 'low' | 'medium' | 'high' | 'critical';

export interface FindingRecord {
  finding_id: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  tool_name: string;
  detector: string;
  score: number;
  severity: FindingSeverity;
  explanation: string;
  observed_json: string;
  baseline_json: string;
  event_ids: string[];
  learning: boolean;
  occurred_at: number;
}

export type HoldStatus = 'pending' | 'approved' | 'denied' | 'expired';

export interface HoldRecord {
  token: string;
  approval_id: string;
  tenant_id: string;
  agent_id: string;
  session_id: string;
  user_id: string;
  tool_name: string;
  args_digest: string;
  args_preview_json: string;
  reason: string;
  reason_code: string;
  risk_score: number;
  violation_id: string;
  enforcement_trace_id: string;
  finding_ids: string[];
  status: HoldStatus;
  created_at: number;
  expires_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
  comment: string | null;
  /** IdP groups whose members may vote; empty or absent: anyone with the approver role. Default []. */
  approvers?: string[];
  /** Distinct approvals needed to release the call. Default 1. */
  approvals_required?: number;
  /** The tenant policy version that decided STEP_UP (0: not recorded). Default 0. */
  policy_version?: number;
  /** The votes, in the order the approvals topic linearized them. Default []. */
  votes?: ApprovalVote[];
}

/** Who acted (schemas/avro: thoth.v1.Principal). */
export interface PrincipalRecord {
  kind: 'person' | 'key' | 'admin-token';
  issuer: string | null;
  subject: string | null;
  email: string | null;
  key_id: string | null;
  name: string | null;
}

/** One vote on a hold, bound to the held call's arguments digest and the deciding policy version. */
export interface ApprovalVote {
  vote_id: string;
  principal: PrincipalRecord;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: number;
  args_digest: string;
  policy_version: number;
}

export interface ApiKeyRecord {
  key_id: string;
  tenant_id: string;
  name: string;
  key_hash: string;
  key_prefix: string;
  permissions: string[];
  agent_id: string | null;
  created_at: number;
  created_by: string;
  expires_at: number | null;
  revoked_at: number | null;
}

export interface TenantRecord {
  tenant_id: string;
  created_at: number;
  created_by: string;
  display_name: string | null;
  /** Requests/s for the whole tenant; null = THOTH_RATE_LIMIT_PER_TENANT. */
  rate_limit_per_second: number | null;
  disabled: boolean;
}

/** The agent id of a tenant's control-plane changes in the audit trail: their own evidence chain. */
export const ADMIN_AGENT_ID = '_admin';

export interface AdminEvent {
  event_id: string;
  tenant_id: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string;
  before_json: string | null;
  after_json: string | null;
  occurred_at: number;
  /** Who acted, structured; null on events written before principals were recorded. */
  principal?: PrincipalRecord | null;
}

export interface PolicyVersionRecord {
  tenant_id: string;
  version: number;
  document_json: string;
  deleted: boolean;
  created_at: number;
  created_by: string;
  comment: string | null;
}

export interface KeyUsageRecord {
  key_id: string;
  tenant_id: string;
  last_used_at: number;
}

export interface ReceiptKeyRecord {
  key_id: string;
  public_key_pem: string;
  created_at: number;
}

/** What one API replica's decisions added to a session's risk (the compacted sessions topic). */
export interface SessionRiskRecord {
  tenant_id: string;
  agent_id: string;
  session_id: string;
  replica_id: string;
  risk: number;
  blocked: number;
  calls: number;
  updated_at: number;
}

export interface RecordTypes {
  'thoth.v1.BehavioralEvent': BehavioralEvent;
  'thoth.v1.DecisionEvent': DecisionEvent;
  'thoth.v1.Directive': DirectiveRecord;
  'thoth.v1.Finding': FindingRecord;
  'thoth.v1.Hold': HoldRecord;
  'thoth.v1.ApiKey': ApiKeyRecord;
  'thoth.v1.Tenant': TenantRecord;
  'thoth.v1.ReceiptKey': ReceiptKeyRecord;
  'thoth.v1.AdminEvent': AdminEvent;
  'thoth.v1.PolicyVersion': PolicyVersionRecord;
  'thoth.v1.KeyUsage': KeyUsageRecord;
  'thoth.v1.SessionRisk': SessionRiskRecord;
}
export type SchemaName = keyof RecordTypes;
