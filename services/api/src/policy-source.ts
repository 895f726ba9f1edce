import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import {
  type CompiledPolicy,
  compilePolicy,
  DEFAULT_POLICY,
  PolicyError,
  parsePolicyText,
} from './decision/index.ts';

/** Where a tenant's fallback rules come from: shown by the API, the CLI and the start-up summary. */
export type PolicyOrigin = { kind: 'default' } | { kind: 'file'; path: string; sha256: string };

/** The compiled policy of each tenant (rules are compiled once, at load). */
export interface PolicySet {
  forTenant(tenantId: string): CompiledPolicy;
  /** Where the rules come from; absent means built in (the default policy). */
  origin?: PolicyOrigin;
}

export const defaultPolicySet: PolicySet = { forTenant: () => DEFAULT_POLICY, origin: { kind: 'default' } };

/**
 * Reads THOTH_POLICY_FILE (YAML, or JSON when the name ends in .json). Either one policy for every tenant,
 * or `{ tenants: { "<tenant id>": <policy>, "*": <policy for the others> } }`. An invalid file fails start
 * with the file, the rule and the field in the message.
 */
export function loadPolicyFile(path: string): PolicySet {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PolicyError(`THOTH_POLICY_FILE ${path}: cannot read (${(error as Error).message})`);
  }
  try {
    const doc = parsePolicyText(text, extname(path).toLowerCase() === '.json' ? 'json' : 'yaml');
    // The path and hash let an operator tell which file, and which edit of it, is in force.
    const sha256 = createHash('sha256').update(text).digest('hex');
    return { ...policySetFrom(doc), origin: { kind: 'file', path: resolve(path), sha256 } };
  } catch (error) {
    throw new PolicyError(`THOTH_POLICY_FILE ${path}: ${(error as Error).message}`);
  }
}

export function policySetFrom(doc: unknown): PolicySet {
  if (doc !== null && typeof doc === 'object' && 'tenants' in doc) {
    const tenants = (doc as { tenants: unknown }).tenants;
    if (tenants === null || typeof tenants !== 'object' || Array.isArray(tenants))
      throw new PolicyError('tenants: must map tenant ids to policies');
    const compiled = new Map<string, CompiledPolicy>();
    for (const [tenant, policy] of Object.entries(tenants)) {
      try {
        compiled.set(tenant, compilePolicy(policy));
      } catch (error) {
        throw new PolicyError(`tenants.${tenant}: ${(error as Error).message}`);
      }
    }
    const fallback = compiled.get('*') ?? DEFAULT_POLICY;
    return { forTenant: (tenantId) => compiled.get(tenantId) ?? fallback };
  }
  const policy = compilePolicy(doc);
  return { forTenant: () => policy };
}
