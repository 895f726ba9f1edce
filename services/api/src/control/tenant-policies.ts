import type { PolicyVersionRecord } from '@thoth/contracts';
import type { Logger } from '@thoth/platform';
import { type CompiledPolicy, compilePolicy } from '../decision/index.ts';
import type { PolicyOrigin, PolicySet } from '../policy-source.ts';

/** The rules a tenant's decisions use now and where they come from (GET /{tenant}/thoth/policies). */
export interface PolicyInForce {
  compiled: CompiledPolicy;
  /** `api`: a version managed through the API; otherwise the fallback's origin (a file, or the default). */
  origin: { kind: 'api' } | PolicyOrigin;
}

export interface TenantPolicyState {
  /** Every version managed through the API, oldest first. */
  versions: PolicyVersionRecord[];
  /** What decisions use now (the latest version; after a delete, the fallback under that version number). */
  compiled: CompiledPolicy;
}

/**
 * The policies decisions use: per tenant, the latest version managed through the API (versions live on the
 * compacted control topic, one key per version), else the fallback (THOTH_POLICY_FILE or the default). Each
 * replica compiles a version once, when it arrives. A decision records `compiled.version`, so every decision
 * names the exact policy version it used — a deletion is itself a version (the fallback under a new number).
 */
export class TenantPolicies implements PolicySet {
  private readonly tenants = new Map<string, TenantPolicyState>();

  constructor(
    private readonly fallback: PolicySet,
    private readonly log: Pick<Logger, 'error'>,
  ) {}

  forTenant(tenantId: string): CompiledPolicy {
    return this.tenants.get(tenantId)?.compiled ?? this.fallback.forTenant(tenantId);
  }

  /** What decisions of `tenantId` use now, and its origin: an API version, THOTH_POLICY_FILE or the default. */
  inForce(tenantId: string): PolicyInForce {
    const latest = this.latest(tenantId);
    if (latest && !latest.deleted) return { compiled: this.forTenant(tenantId), origin: { kind: 'api' } };
    return { compiled: this.forTenant(tenantId), origin: this.fallbackOrigin() };
  }

  /** Where the fallback rules come from (THOTH_POLICY_FILE, or the built-in default). */
  fallbackOrigin(): PolicyOrigin {
    return this.fallback.origin ?? { kind: 'default' };
  }

  /** Applies a version seen on the control topic (idempotent; an older version only joins the history). */
  apply(record: PolicyVersionRecord): void {
    const state = this.tenants.get(record.tenant_id);
    const versions = (state?.versions ?? []).filter((v) => v.version !== record.version);
    versions.push(record);
    versions.sort((a, b) => a.version - b.version);
    const latest = versions[versions.length - 1]!;
    let compiled = state?.compiled;
    if (latest === record || !compiled) {
      try {
        compiled = this.compile(latest);
      } catch (error) {
        // Validated before it was published; a replica that still cannot compile keeps what it had.
        this.log.error(
          { tenant_id: record.tenant_id, version: record.version, err: error },
          'policy version does not compile; keeping the previous one',
        );
        compiled ??= this.fallback.forTenant(record.tenant_id);
      }
    }
    this.tenants.set(record.tenant_id, { versions, compiled });
  }

  versions(tenantId: string): readonly PolicyVersionRecord[] {
    return this.tenants.get(tenantId)?.versions ?? [];
  }

  /** The latest API-managed version, if any. */
  latest(tenantId: string): PolicyVersionRecord | undefined {
    const versions = this.versions(tenantId);
    return versions[versions.length - 1];
  }

  /** Versions only grow: above every API version and above the fallback's own version number. */
  nextVersion(tenantId: string): number {
    return Math.max(this.latest(tenantId)?.version ?? 0, this.fallback.forTenant(tenantId).version) + 1;
  }

  private compile(record: PolicyVersionRecord): CompiledPolicy {
    if (record.deleted) return { ...this.fallback.forTenant(record.tenant_id), version: record.version };
    // A version on the topic was accepted when applied: a cost limit added since must not unseat it at a restart
    // (its evaluations are bounded at run time all the same: each condition's limit, and the call's, CallBudget).
    return {
      ...compilePolicy(JSON.parse(record.document_json), { checkCost: false }),
      version: record.version,
    };
  }
}
