import type { ApiKeyRecord, ReceiptKeyRecord, TenantRecord } from '@thoth/contracts';
import type { Decoded, Logger } from '@thoth/platform';
import type { PolicySet } from '../policy-source.ts';
import { hashApiKey } from './api-keys.ts';
import { apiKeyView } from './control-views.ts';
import { TenantPolicies } from './tenant-policies.ts';

/** At most this many keys' hashes are remembered (the map starts over when full). */
const KNOWN_KEY_HASHES = 4_096;

export interface ApiKeyIdentity {
  keyId: string;
  tenantId: string;
  name: string;
  permissions: ReadonlySet<string>;
  agentId: string | null;
  expiresAt: number | null;
  revokedAt: number | null;
}

/**
 * The reads of the control state: tenants, API keys (by hash and by id), policy versions, key usage and receipt
 * public keys, as the compacted control topic last said them. `apply` and `forget` change it from the topic's
 * records (ControlState feeds them; ControlCommands applies its own writes at once too), and `noteUsed` from
 * this replica's authentications (KeyUsage). Auth on the hot path is a map lookup here.
 */
export class ControlProjection {
  private readonly keysByHash = new Map<string, ApiKeyIdentity>();
  /**
   * The hash of each key presented lately that exists: hashing the key was about 1.5% of the enforce path's
   * CPU a request, for the same few keys over and over. It keeps live keys' plaintext in this process's memory
   * (the control topic stores their hashes only); it is emptied whenever a key changes or goes (revocation,
   * deletion, a new expiry: rare), so a key that stopped working does not stay in it.
   */
  private readonly hashOfKnownKey = new Map<string, string>();
  private readonly keysById = new Map<string, ApiKeyRecord>();
  private readonly tenants = new Map<string, TenantRecord>();
  private readonly receiptKeys = new Map<string, ReceiptKeyRecord>();
  private readonly lastUsed = new Map<string, number>();
  readonly policies: TenantPolicies;

  constructor(
    fallbackPolicies: PolicySet,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.policies = new TenantPolicies(fallbackPolicies, log);
  }

  /** The identity of a presented key, if it exists (expiry and revocation are the caller's to check). */
  identify(apiKey: string): ApiKeyIdentity | undefined {
    let keyHash = this.hashOfKnownKey.get(apiKey);
    if (keyHash === undefined) {
      keyHash = hashApiKey(apiKey);
      // Only keys that work are remembered: unknown ones (a guesser's) cannot fill the map, and revoked or expired
      // ones are not kept.
      const identity = this.keysByHash.get(keyHash);
      if (
        identity &&
        identity.revokedAt === null &&
        (identity.expiresAt === null || identity.expiresAt > this.now())
      ) {
        if (this.hashOfKnownKey.size >= KNOWN_KEY_HASHES) this.hashOfKnownKey.clear();
        this.hashOfKnownKey.set(apiKey, keyHash);
      }
    }
    // Looked up every time: a revoked or deleted key is gone from keysByHash at once.
    return this.keysByHash.get(keyHash);
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

  apiKey(keyId: string): ApiKeyRecord | undefined {
    return this.keysById.get(keyId);
  }

  /** The tenant's keys, newest first, without secrets. */
  apiKeyList(tenantId: string): ReturnType<typeof apiKeyView>[] {
    const now = this.now();
    return [...this.keysById.values()]
      .filter((k) => k.tenant_id === tenantId)
      .sort((a, b) => b.created_at - a.created_at || b.key_id.localeCompare(a.key_id))
      .map((k) => apiKeyView(k, this.lastUsed.get(k.key_id), now));
  }

  lastUsedAt(keyId: string): number | undefined {
    return this.lastUsed.get(keyId);
  }

  receiptKey(keyId: string): ReceiptKeyRecord | undefined {
    return this.receiptKeys.get(keyId);
  }

  receiptKeyList(): ReceiptKeyRecord[] {
    return [...this.receiptKeys.values()];
  }

  /**
   * A key's use seen on this replica or published by another: the latest time wins, so neither a replica's
   * older record nor a request stamped a little earlier moves `last_used_at` back.
   */
  noteUsed(keyId: string, at: number): void {
    if ((this.lastUsed.get(keyId) ?? 0) < at) this.lastUsed.set(keyId, at);
  }

  apply(record: Exclude<Decoded, { ok: false }>): void {
    if (record.schema === 'thoth.v1.ApiKey') this.applyKey(record.value);
    else if (record.schema === 'thoth.v1.Tenant') this.tenants.set(record.value.tenant_id, record.value);
    else if (record.schema === 'thoth.v1.ReceiptKey') this.receiptKeys.set(record.value.key_id, record.value);
    else if (record.schema === 'thoth.v1.PolicyVersion') this.policies.apply(record.value);
    else if (record.schema === 'thoth.v1.KeyUsage')
      this.noteUsed(record.value.key_id, record.value.last_used_at);
    else this.log.warn({ schema: record.schema }, 'unexpected record on the control topic');
  }

  /** A tombstone on the control topic: the record under `key` is gone. */
  forget(key: string): void {
    if (key.startsWith('apikey/')) {
      const record = this.keysById.get(key.slice('apikey/'.length));
      if (record) {
        this.keysById.delete(record.key_id);
        this.keysByHash.delete(record.key_hash);
        this.hashOfKnownKey.clear();
      }
    } else if (key.startsWith('tenant/')) this.tenants.delete(key.slice('tenant/'.length));
    else if (key.startsWith('receipt-key/')) this.receiptKeys.delete(key.slice('receipt-key/'.length));
  }

  private applyKey(record: ApiKeyRecord): void {
    const previous = this.keysById.get(record.key_id);
    if (previous) {
      this.keysByHash.delete(previous.key_hash);
      this.hashOfKnownKey.clear();
    }
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
}
