import type {
  ApiKeyRecord,
  Permission,
  PolicyVersionRecord,
  ReceiptKeyRecord,
  RecordTypes,
  TenantRecord,
} from '@thoth/contracts';
import { ulid } from '@thoth/contracts';
import type { AvroCodec, Bus, OutgoingMessage } from '@thoth/platform';
import { principalLabel } from '../http/principal.ts';
import { type Actor, type AdminAction, type AdminChange, adminEvent } from './admin-audit.ts';
import { type AdminOutbox, OUTBOX_PREFIX } from './admin-outbox.ts';
import { generateApiKey, hashApiKey, keyPrefix } from './api-keys.ts';
import type { ControlProjection } from './control-projection.ts';
import { apiKeyView, policyVersionView, tenantView } from './control-views.ts';

export interface CreatedApiKey {
  apiKey: string;
  record: ApiKeyRecord;
}

/** A change refused because of the current state (unknown tenant, existing tenant…): the route's 404/409. */
export class ControlConflict extends Error {
  constructor(
    readonly kind: 'not_found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

type ControlSchema =
  | 'thoth.v1.ApiKey'
  | 'thoth.v1.Tenant'
  | 'thoth.v1.ReceiptKey'
  | 'thoth.v1.PolicyVersion'
  | 'thoth.v1.KeyUsage';

/** Control-topic key of a policy version: one key per version (compaction keeps them all), sortable. */
export const policyKey = (tenantId: string, version: number): string =>
  `policy/${tenantId}/${String(version).padStart(10, '0')}`;

/** The control topic's writer: what every change needs to publish its records. */
export interface ControlWriter {
  bus: Bus;
  codec: AvroCodec;
  topic: string;
  now: () => number;
}

/** Encodes a control record for the control topic. */
export function controlRecord<N extends ControlSchema>(
  codec: AvroCodec,
  schema: N,
  key: string,
  value: RecordTypes[N],
): OutgoingMessage {
  return codec.encode(schema, key, value);
}

/**
 * The writes of the control state: each checks the projection, publishes its records to the control topic
 * together with its admin event (into the outbox, AdminOutbox: a change is never acknowledged without its audit
 * record, crash or not), and applies the records to the projection at once, so the caller may use what it created
 * before the topic delivers it back. Without an outbox (tools, tests) changes are not audited.
 */
export class ControlCommands {
  constructor(
    private readonly writer: ControlWriter,
    private readonly projection: ControlProjection,
    private readonly outbox: AdminOutbox | undefined,
  ) {}

  async createTenant(input: {
    tenantId: string;
    displayName?: string | null;
    rateLimitPerSecond?: number | null;
    actor: Actor;
  }): Promise<TenantRecord> {
    if (this.projection.hasTenant(input.tenantId))
      throw new ControlConflict('conflict', `tenant ${input.tenantId} already exists`);
    const record: TenantRecord = {
      tenant_id: input.tenantId,
      created_at: this.now(),
      created_by: principalLabel(input.actor),
      display_name: input.displayName ?? null,
      rate_limit_per_second: input.rateLimitPerSecond ?? null,
      disabled: false,
    };
    await this.change(
      [this.encode('thoth.v1.Tenant', `tenant/${record.tenant_id}`, record)],
      this.audit(
        record.tenant_id,
        input.actor,
        'tenant.create',
        'tenant',
        record.tenant_id,
        null,
        tenantView(record),
      ),
    );
    return record;
  }

  async updateTenant(
    tenantId: string,
    patch: { display_name?: string | null; rate_limit_per_second?: number | null; disabled?: boolean },
    actor: Actor,
  ): Promise<TenantRecord> {
    const before = this.projection.tenant(tenantId);
    if (!before) throw new ControlConflict('not_found', `no tenant ${tenantId}`);
    const after: TenantRecord = { ...before, ...patch };
    await this.change(
      [this.encode('thoth.v1.Tenant', `tenant/${tenantId}`, after)],
      this.audit(tenantId, actor, 'tenant.update', 'tenant', tenantId, tenantView(before), tenantView(after)),
    );
    return after;
  }

  /** Creates the tenant if needed and a key for it. */
  async createApiKey(input: {
    tenantId: string;
    name: string;
    permissions: Permission[];
    agentId?: string | null;
    expiresAt?: number | null;
    createdBy: Actor;
    kind?: 'live' | 'test';
  }): Promise<CreatedApiKey> {
    const now = this.now();
    if (!this.projection.hasTenant(input.tenantId))
      await this.createTenant({ tenantId: input.tenantId, actor: input.createdBy }).catch(
        (error: unknown) => {
          // Created meanwhile (another request): fine, the key goes to it.
          if (!(error instanceof ControlConflict)) throw error;
        },
      );
    const apiKey = generateApiKey(input.kind);
    const record: ApiKeyRecord = {
      key_id: `key_${ulid(now)}`,
      tenant_id: input.tenantId,
      name: input.name,
      key_hash: hashApiKey(apiKey),
      key_prefix: keyPrefix(apiKey),
      permissions: [...new Set(input.permissions)],
      agent_id: input.agentId ?? null,
      created_at: now,
      created_by: principalLabel(input.createdBy),
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
    };
    await this.change(
      [this.encode('thoth.v1.ApiKey', `apikey/${record.key_id}`, record)],
      this.audit(
        record.tenant_id,
        input.createdBy,
        'api_key.create',
        'api_key',
        record.key_id,
        null,
        apiKeyView(record, undefined, now),
      ),
    );
    return { apiKey, record };
  }

  /** Revokes a key of the tenant (idempotent: an already revoked key is answered as it is). */
  async revokeApiKey(tenantId: string, keyId: string, actor: Actor): Promise<ApiKeyRecord> {
    const before = this.projection.apiKey(keyId);
    if (!before || before.tenant_id !== tenantId)
      throw new ControlConflict('not_found', `no API key ${keyId} in tenant ${tenantId}`);
    if (before.revoked_at !== null) return before;
    const now = this.now();
    const after: ApiKeyRecord = { ...before, revoked_at: now };
    const used = this.projection.lastUsedAt(keyId);
    await this.change(
      [this.encode('thoth.v1.ApiKey', `apikey/${keyId}`, after)],
      this.audit(
        tenantId,
        actor,
        'api_key.revoke',
        'api_key',
        keyId,
        apiKeyView(before, used, now),
        apiKeyView(after, used, now),
      ),
    );
    return after;
  }

  /**
   * A new version of the tenant's policy (`document` already validated), or a deletion (`document` null):
   * the tenant falls back to THOTH_POLICY_FILE / the default, under this new version number.
   */
  async putPolicyVersion(input: {
    tenantId: string;
    document: Record<string, unknown> | null;
    actor: Actor;
    comment?: string | null;
  }): Promise<PolicyVersionRecord> {
    const previous = this.projection.policies.latest(input.tenantId);
    if (input.document === null && (!previous || previous.deleted))
      throw new ControlConflict(
        'not_found',
        `tenant ${input.tenantId} has no policy managed through the API`,
      );
    const version = this.projection.policies.nextVersion(input.tenantId);
    const record: PolicyVersionRecord = {
      tenant_id: input.tenantId,
      version,
      document_json: JSON.stringify(input.document === null ? {} : { ...input.document, version }),
      deleted: input.document === null,
      created_at: this.now(),
      created_by: principalLabel(input.actor),
      comment: input.comment ?? null,
    };
    const action: AdminAction =
      input.document === null
        ? 'policy.delete'
        : previous && !previous.deleted
          ? 'policy.update'
          : 'policy.create';
    await this.change(
      [this.encode('thoth.v1.PolicyVersion', policyKey(input.tenantId, version), record)],
      this.audit(
        input.tenantId,
        input.actor,
        action,
        'policy',
        `v${version}`,
        previous ? policyVersionView(previous, true) : null,
        policyVersionView(record, true),
      ),
    );
    return record;
  }

  async publishReceiptKey(record: ReceiptKeyRecord): Promise<void> {
    if (this.projection.receiptKey(record.key_id)?.public_key_pem === record.public_key_pem) return;
    await this.change([this.encode('thoth.v1.ReceiptKey', `receipt-key/${record.key_id}`, record)]);
  }

  private now(): number {
    return this.writer.now();
  }

  private encode<N extends ControlSchema>(schema: N, key: string, value: RecordTypes[N]): OutgoingMessage {
    return controlRecord(this.writer.codec, schema, key, value);
  }

  private audit(
    tenantId: string,
    actor: Actor,
    action: AdminAction,
    targetType: AdminChange['targetType'],
    targetId: string,
    before: unknown,
    after: unknown,
  ): AdminChange {
    return { tenantId, actor, action, targetType, targetId, before, after, at: this.now() };
  }

  /** Publishes control records and their admin event in one write to the control topic, then applies them. */
  private async change(messages: OutgoingMessage[], audit?: AdminChange): Promise<void> {
    const event = audit && this.outbox ? adminEvent(audit).event : undefined;
    await this.writer.bus.publish(
      this.writer.topic,
      event && this.outbox ? [...messages, this.outbox.entry(event)] : messages,
    );
    for (const message of messages) {
      const decoded = this.writer.codec.decode({ value: message.value, headers: message.headers ?? {} });
      if (decoded.ok) this.projection.apply(decoded);
    }
    // Relayed now rather than when the view brings it back (it would be, by every replica: once suffices).
    if (event) this.outbox?.relay(`${OUTBOX_PREFIX}${event.event_id}`, event);
  }
}
