import type { AvroCodec } from '@thoth/common/bus/avro-codec';
import type { Bus, CompactedView } from '@thoth/common/bus/bus';
import { ulid } from '@thoth/common/ids';
import type { Logger } from '@thoth/common/logger';
import type { ApiKeyRecord, ReceiptKeyRecord, TenantRecord } from '@thoth/common/records';
import { generateApiKey, hashApiKey, keyPrefix, type Permission } from './api-keys.ts';

export interface ApiKeyIdentity {
  keyId: string;
  tenantId: string;
  name: string;
  permissions: ReadonlySet<string>;
  agentId: string | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

export interface CreatedApiKey {
  apiKey: string;
  record: ApiKeyRecord;
}

/**
 * The control state every API replica holds in memory — tenants, API keys (by hash), receipt public keys —
 * event-sourced on the compacted control topic: a replica rebuilds it at start and follows every change,
 * so a key created through one replica works on all of them. Auth on the hot path is a map lookup.
 */
export class ControlState {
  private readonly keysByHash = new Map<string, ApiKeyIdentity>();
  private readonly keysById = new Map<string, ApiKeyRecord>();
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly receiptKeys = new Map<string, ReceiptKeyRecord>();
  private view: CompactedView | undefined;

  constructor(private readonly deps: { bus: Bus; codec: AvroCodec; topic: string; log: Logger }) {}

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (key, value, headers) => {
      if (value === null) return this.forget(key);
      const decoded = this.deps.codec.decode({ value, headers });
      if (!decoded.ok)
        return this.deps.log.error({ key, reason: decoded.reason }, 'unreadable control record');
      if (decoded.schema === 'thoth.v1.ApiKey') this.applyKey(decoded.value);
      else if (decoded.schema === 'thoth.v1.Tenant') this.tenants.set(decoded.value.tenant_id, decoded.value);
      else if (decoded.schema === 'thoth.v1.ReceiptKey')
        this.receiptKeys.set(decoded.value.key_id, decoded.value);
    });
  }

  async stop(): Promise<void> {
    await this.view?.close();
  }

  /** The identity of a presented key, if it exists (expiry and revocation are the caller's to check). */
  identify(apiKey: string): ApiKeyIdentity | undefined {
    return this.keysByHash.get(hashApiKey(apiKey));
  }

  hasTenant(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  receiptKeyList(): ReceiptKeyRecord[] {
    return [...this.receiptKeys.values()];
  }

  /** Creates the tenant if needed and a key for it; durable (on the bus) before it returns. */
  async createApiKey(input: {
    tenantId: string;
    name: string;
    permissions: Permission[];
    agentId?: string | null;
    expiresAt?: number | null;
    createdBy: string;
    kind?: 'live' | 'test';
  }): Promise<CreatedApiKey> {
    const now = Date.now();
    if (!this.tenants.has(input.tenantId)) {
      await this.put(`tenant/${input.tenantId}`, 'thoth.v1.Tenant', {
        tenant_id: input.tenantId,
        created_at: now,
        created_by: input.createdBy,
      });
    }
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
      created_by: input.createdBy,
      expires_at: input.expiresAt ?? null,
      revoked_at: null,
    };
    await this.put(`apikey/${record.key_id}`, 'thoth.v1.ApiKey', record);
    return { apiKey, record };
  }

  async publishReceiptKey(record: ReceiptKeyRecord): Promise<void> {
    if (this.receiptKeys.get(record.key_id)?.public_key_pem === record.public_key_pem) return;
    await this.put(`receipt-key/${record.key_id}`, 'thoth.v1.ReceiptKey', record);
  }

  private async put<N extends 'thoth.v1.ApiKey' | 'thoth.v1.Tenant' | 'thoth.v1.ReceiptKey'>(
    key: string,
    schema: N,
    value: N extends 'thoth.v1.ApiKey'
      ? ApiKeyRecord
      : N extends 'thoth.v1.Tenant'
        ? TenantRecord
        : ReceiptKeyRecord,
  ): Promise<void> {
    const message = this.deps.codec.encode(schema, key, value as never);
    await this.deps.bus.publish(this.deps.topic, [message]);
    // Apply at once: the caller may use what it created before the view delivers it back.
    const decoded = this.deps.codec.decode({ value: message.value, headers: message.headers ?? {} });
    if (decoded.ok && decoded.schema === 'thoth.v1.ApiKey') this.applyKey(decoded.value);
    else if (decoded.ok && decoded.schema === 'thoth.v1.Tenant')
      this.tenants.set(decoded.value.tenant_id, decoded.value);
    else if (decoded.ok && decoded.schema === 'thoth.v1.ReceiptKey')
      this.receiptKeys.set(decoded.value.key_id, decoded.value);
  }

  private applyKey(record: ApiKeyRecord): void {
    const previous = this.keysById.get(record.key_id);
    if (previous) this.keysByHash.delete(previous.key_hash);
    this.keysById.set(record.key_id, record);
    this.keysByHash.set(record.key_hash, {
      keyId: record.key_id,
      tenantId: record.tenant_id,
      name: record.name,
      permissions: new Set(record.permissions),
      agentId: record.agent_id,
      expiresAt: record.expires_at,
      revokedAt: record.revoked_at,
    });
  }

  private forget(key: string): void {
    if (key.startsWith('apikey/')) {
      const record = this.keysById.get(key.slice('apikey/'.length));
      if (record) {
        this.keysById.delete(record.key_id);
        this.keysByHash.delete(record.key_hash);
      }
    } else if (key.startsWith('tenant/')) this.tenants.delete(key.slice('tenant/'.length));
    else if (key.startsWith('receipt-key/')) this.receiptKeys.delete(key.slice('receipt-key/'.length));
  }
}
