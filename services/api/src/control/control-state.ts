import type {
  ApiKeyRecord,
  Permission,
  PolicyVersionRecord,
  ReceiptKeyRecord,
  RecordTypes,
  TenantRecord,
} from '@thoth/contracts';
import { ulid } from '@thoth/contracts';
import type { AvroCodec, Bus, CompactedView, Decoded, Logger, OutgoingMessage } from '@thoth/platform';
import { principalLabel } from '../http/principal.ts';
import { defaultPolicySet, type PolicySet } from '../policy-source.ts';
import { type Actor, type AdminAction, type AdminChange, adminEvent } from './admin-audit.ts';
import { AdminOutbox, OUTBOX_PREFIX } from './admin-outbox.ts';
import { generateApiKey, hashApiKey, keyPrefix } from './api-keys.ts';
import { apiKeyView, policyVersionView, tenantView } from './control-views.ts';
import { TenantPolicies } from './tenant-policies.ts';

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

export interface ControlStateDeps {
  bus: Bus;
  codec: AvroCodec;
  topic: string;
  log: Logger;
  /** Where admin-audit events go (the events topic); without it changes are not audited (tools, tests). */
  eventsTopic?: string;
  /** Policies when a tenant has none managed through the API (THOTH_POLICY_FILE or the default). */
  fallbackPolicies?: PolicySet;
  /** How often this replica publishes its keys' last-used times; 0 = never (kept in memory only). */
  usageFlushMs?: number;
  now?: () => number;
}

/**
 * The control state every API replica holds in memory — tenants, API keys (by hash), policy versions, key
 * usage, receipt public keys — event-sourced on the compacted control topic: a replica rebuilds it at start
 * and follows every change (a revocation through one replica reaches the others as fast as the bus delivers
 * it). Auth on the hot path is a map lookup. Every change made here is durable on the bus before it returns,
 * and — with `eventsTopic` — recorded as an admin event in the tenant's `_admin` evidence chain.
 */
export class ControlState {
  private readonly keysByHash = new Map<string, ApiKeyIdentity>();
  private readonly keysById = new Map<string, ApiKeyRecord>();
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly receiptKeys = new Map<string, ReceiptKeyRecord>();
  private readonly lastUsed = new Map<string, number>();
  /** Keys used on this replica since the last usage flush. */
  private readonly usedSinceFlush = new Map<string, string>();
  private usageTimer: NodeJS.Timeout | undefined;
  private view: CompactedView | undefined;
  readonly policies: TenantPolicies;

  private readonly outbox: AdminOutbox | undefined;

  constructor(private readonly deps: ControlStateDeps) {
    this.policies = new TenantPolicies(deps.fallbackPolicies ?? defaultPolicySet, deps.log);
    this.outbox = deps.eventsTopic
      ? new AdminOutbox({
          bus: deps.bus,
          codec: deps.codec,
          controlTopic: deps.topic,
          eventsTopic: deps.eventsTopic,
          log: deps.log,
        })
      : undefined;
  }

  async start(): Promise<void> {
    this.view = await this.deps.bus.openView(this.deps.topic, (key, value, headers) => {
      if (value === null) return this.forget(key);
      const decoded = this.deps.codec.decode({ value, headers });
      if (!decoded.ok)
        return this.deps.log.error({ key, reason: decoded.reason }, 'unreadable control record');
      // An admin event still in the outbox (its change is done): relay it, whoever wrote it.
      if (key.startsWith(OUTBOX_PREFIX) && decoded.schema === 'thoth.v1.AdminEvent')
        return this.outbox?.relay(key, decoded.value);
      this.apply(decoded);
    });
    if (this.deps.usageFlushMs) {
      this.usageTimer = setInterval(() => {
        this.flushUsage().catch((error: unknown) =>
          this.deps.log.warn({ err: error }, 'key usage not published; will retry'),
        );
      }, this.deps.usageFlushMs);
      this.usageTimer.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.usageTimer);
    this.outbox?.stop();
    await this.flushUsage().catch(() => undefined);
    await this.view?.close();
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────────────────

  /** The identity of a presented key, if it exists (expiry and revocation are the caller's to check). */
  identify(apiKey: string): ApiKeyIdentity | undefined {
    return this.keysByHash.get(hashApiKey(apiKey));
  }

  hasTenant(tenantId: string): boolean {
    return this.tenants.has(tenantId);
  }

  tenant(tenantId: string): TenantRecord | undefined {
    return this.tenants.get(tenantId);
  }

  tenantList(): TenantRecord[] {
    return [...this.tenants.values()].sort((a, b) => a.tenant_id.localeCompare(b.tenant_id));
  }

  /** The tenant's keys, newest first, without secrets. */
  apiKeyList(tenantId: string): ReturnType<typeof apiKeyView>[] {
    const now = this.now();
    return [...this.keysById.values()]
      .filter((k) => k.tenant_id === tenantId)
      .sort((a, b) => b.created_at - a.created_at || b.key_id.localeCompare(a.key_id))
      .map((k) => apiKeyView(k, this.lastUsed.get(k.key_id), now));
  }

  receiptKeyList(): ReceiptKeyRecord[] {
    return [...this.receiptKeys.values()];
  }

  /** Notes a successful authentication (memory only; published every `usageFlushMs`). */
  markUsed(identity: ApiKeyIdentity, at: number): void {
    this.lastUsed.set(identity.keyId, at);
    this.usedSinceFlush.set(identity.keyId, identity.tenantId);
  }

  // ── changes ────────────────────────────────────────────────────────────────────────────────────────────

  async createTenant(input: {
    tenantId: string;
    displayName?: string | null;
    rateLimitPerSecond?: number | null;
    actor: Actor;
  }): Promise<TenantRecord> {
    if (this.tenants.has(input.tenantId))
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
    const before = this.tenants.get(tenantId);
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
    if (!this.tenants.has(input.tenantId))
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
    const before = this.keysById.get(keyId);
    if (!before || before.tenant_id !== tenantId)
      throw new ControlConflict('not_found', `no API key ${keyId} in tenant ${tenantId}`);
    if (before.revoked_at !== null) return before;
    const now = this.now();
    const after: ApiKeyRecord = { ...before, revoked_at: now };
    const used = this.lastUsed.get(keyId);
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
    const previous = this.policies.latest(input.tenantId);
    if (input.document === null && (!previous || previous.deleted))
      throw new ControlConflict(
        'not_found',
        `tenant ${input.tenantId} has no policy managed through the API`,
      );
    const version = this.policies.nextVersion(input.tenantId);
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
    if (this.receiptKeys.get(record.key_id)?.public_key_pem === record.public_key_pem) return;
    await this.change([this.encode('thoth.v1.ReceiptKey', `receipt-key/${record.key_id}`, record)]);
  }

  /** Publishes the last-used time of the keys used on this replica since the last flush. */
  async flushUsage(): Promise<void> {
    if (this.usedSinceFlush.size === 0) return;
    const batch = [...this.usedSinceFlush];
    this.usedSinceFlush.clear();
    const messages = batch.map(([keyId, tenantId]) =>
      this.encode('thoth.v1.KeyUsage', `key-used/${keyId}`, {
        key_id: keyId,
        tenant_id: tenantId,
        last_used_at: this.lastUsed.get(keyId) ?? this.now(),
      }),
    );
    try {
      await this.deps.bus.publish(this.deps.topic, messages);
    } catch (error) {
      for (const [keyId, tenantId] of batch) this.usedSinceFlush.set(keyId, tenantId);
      throw error;
    }
  }

  // ── internals ──────────────────────────────────────────────────────────────────────────────────────────

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  private encode<N extends ControlSchema>(schema: N, key: string, value: RecordTypes[N]): OutgoingMessage {
    return this.deps.codec.encode(schema, key, value);
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

  /**
   * Publishes control records and their admin event in one write to the control topic (the event into the
   * outbox, AdminOutbox: a change is never acknowledged without its audit record, crash or not), and applies the
   * records at once: the caller may use what it created before the view delivers it back.
   */
  private async change(messages: OutgoingMessage[], audit?: AdminChange): Promise<void> {
    const event = audit && this.outbox ? adminEvent(audit).event : undefined;
    await this.deps.bus.publish(
      this.deps.topic,
      event && this.outbox ? [...messages, this.outbox.entry(event)] : messages,
    );
    for (const message of messages) {
      const decoded = this.deps.codec.decode({ value: message.value, headers: message.headers ?? {} });
      if (decoded.ok) this.apply(decoded);
    }
    // Relayed now rather than when the view brings it back (it would be, by every replica: once suffices).
    if (event) this.outbox?.relay(`${OUTBOX_PREFIX}${event.event_id}`, event);
  }

  private apply(record: Exclude<Decoded, { ok: false }>): void {
    if (record.schema === 'thoth.v1.ApiKey') this.applyKey(record.value);
    else if (record.schema === 'thoth.v1.Tenant') this.tenants.set(record.value.tenant_id, record.value);
    else if (record.schema === 'thoth.v1.ReceiptKey') this.receiptKeys.set(record.value.key_id, record.value);
    else if (record.schema === 'thoth.v1.PolicyVersion') this.policies.apply(record.value);
    else if (record.schema === 'thoth.v1.KeyUsage') {
      // Replicas publish independently: the latest time wins.
      const { key_id, last_used_at } = record.value;
      if ((this.lastUsed.get(key_id) ?? 0) < last_used_at) this.lastUsed.set(key_id, last_used_at);
    } else this.deps.log.warn({ schema: record.schema }, 'unexpected record on the control topic');
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
    if (key.startsWith(OUTBOX_PREFIX)) this.outbox?.settled(key);
    else if (key.startsWith('apikey/')) {
      const record = this.keysById.get(key.slice('apikey/'.length));
      if (record) {
        this.keysById.delete(record.key_id);
        this.keysByHash.delete(record.key_hash);
      }
    } else if (key.startsWith('tenant/')) this.tenants.delete(key.slice('tenant/'.length));
    else if (key.startsWith('receipt-key/')) this.receiptKeys.delete(key.slice('receipt-key/'.length));
  }
}
