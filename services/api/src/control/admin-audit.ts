import { ADMIN_AGENT_ID, type AdminEvent, agentKey, ulid } from '@thoth/contracts';
import { type Principal, principalLabel, principalRecord } from '../http/principal.ts';

/** Who made a change: a principal, or the operator's bare `admin-token` string. */
export type Actor = Principal | string;

export type AdminAction =
  | 'tenant.create'
  | 'tenant.update'
  | 'api_key.create'
  | 'api_key.revoke'
  | 'policy.create'
  | 'policy.update'
  | 'policy.delete';

export interface AdminChange {
  tenantId: string;
  /** Who: the admin token, an admin key, or a signed-in person (recorded as a label and structured). */
  actor: Actor;
  action: AdminAction;
  targetType: 'tenant' | 'api_key' | 'policy';
  targetId: string;
  /** Views without secrets (never a key's plaintext or hash). null = did not exist / no longer exists. */
  before: unknown;
  after: unknown;
  at: number;
}

/** The audit record of one control-plane change, and its bus key: the tenant's `_admin` evidence chain. Pure. */
export function adminEvent(change: AdminChange): { key: string; event: AdminEvent } {
  return {
    key: agentKey(change.tenantId, ADMIN_AGENT_ID),
    event: {
      event_id: `${change.tenantId}:admin:${ulid(change.at)}`,
      tenant_id: change.tenantId,
      actor: principalLabel(change.actor),
      principal: principalRecord(change.actor),
      action: change.action,
      target_type: change.targetType,
      target_id: change.targetId,
      before_json:
        change.before === null || change.before === undefined ? null : JSON.stringify(change.before),
      after_json: change.after === null || change.after === undefined ? null : JSON.stringify(change.after),
      occurred_at: change.at,
    },
  };
}
