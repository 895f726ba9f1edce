import type {
  ApiKeyRecord,
  ApiKeyView,
  Permission,
  PolicyInForceView,
  PolicyVersionRecord,
  PolicyVersionView,
  TenantRecord,
  TenantView,
} from '@thoth/contracts';
import type { PolicyInForce } from './tenant-policies.ts';

/**
 * What the control-plane API answers and the admin audit records about tenants, keys and policy versions.
 * Pure. A key's view never holds its plaintext or its hash: only the short visible prefix.
 */

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null | undefined): string | null =>
  ms === null || ms === undefined ? null : iso(ms);

export function apiKeyStatus(record: ApiKeyRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (record.revoked_at !== null && record.revoked_at <= now) return 'revoked';
  if (record.expires_at !== null && record.expires_at <= now) return 'expired';
  return 'active';
}

export function apiKeyView(record: ApiKeyRecord, lastUsedAt: number | undefined, now: number): ApiKeyView {
  return {
    key_id: record.key_id,
    tenant_id: record.tenant_id,
    name: record.name,
    key_prefix: record.key_prefix,
    // Keys are created with PERMISSIONS only (the create body's enum).
    permissions: record.permissions as Permission[],
    agent_id: record.agent_id,
    status: apiKeyStatus(record, now),
    created_at: iso(record.created_at),
    created_by: record.created_by,
    expires_at: isoOrNull(record.expires_at),
    revoked_at: isoOrNull(record.revoked_at),
    last_used_at: isoOrNull(lastUsedAt),
  };
}

export function tenantView(record: TenantRecord): TenantView {
  return {
    tenant_id: record.tenant_id,
    display_name: record.display_name,
    rate_limit_per_second: record.rate_limit_per_second,
    disabled: record.disabled,
    created_at: iso(record.created_at),
    created_by: record.created_by,
  };
}

export function policyVersionView(record: PolicyVersionRecord, withDocument: boolean): PolicyVersionView {
  const document = JSON.parse(record.document_json) as { rules?: unknown[] };
  return {
    tenant_id: record.tenant_id,
    version: record.version,
    deleted: record.deleted,
    rule_count: Array.isArray(document.rules) ? document.rules.length : 0,
    created_at: iso(record.created_at),
    created_by: record.created_by,
    comment: record.comment,
    ...(withDocument ? { document } : {}),
  };
}

/**
 * The rules decisions use now, as written (id, effect, tools, CEL condition, reason), with where they come from:
 * an API version, or the policy file by path and SHA-256, or the built-in default.
 */
export function policyInForceView(inForce: PolicyInForce): PolicyInForceView {
  const { compiled, origin } = inForce;
  return {
    version: compiled.version,
    source: origin.kind,
    file: origin.kind === 'file' ? { path: origin.path, sha256: origin.sha256 } : null,
    thresholds: {
      warn: compiled.thresholds.warn,
      step_up: compiled.thresholds.stepUp,
      block: compiled.thresholds.block,
    },
    session_decay_half_life_seconds: compiled.halfLifeMs / 1000,
    /** Who approves STEP_UP holds unless a rule says otherwise (docs/policies.md#approval-rules). */
    step_up: {
      timeout_seconds: compiled.stepUp.timeoutSeconds,
      approvers: compiled.stepUp.approvers,
      approvals_required: compiled.stepUp.approvalsRequired,
    },
    rule_count: compiled.rules.length,
    rules: compiled.rules.map((rule) => ({
      id: rule.id,
      effect: rule.effect,
      tools: rule.tools ? [...rule.tools] : null,
      condition: rule.condition.source,
      reason: rule.reason,
      reason_code: rule.reasonCode,
      risk_points: rule.riskPoints,
      ...(rule.description ? { description: rule.description } : {}),
      ...(rule.approvers ? { approvers: rule.approvers } : {}),
      ...(rule.approvalsRequired !== undefined ? { approvals_required: rule.approvalsRequired } : {}),
    })),
  };
}
