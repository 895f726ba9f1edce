import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadPolicyFile, policySetFrom } from './policy-source.ts';

describe('policy files', () => {
  it('loads the documented example policy (examples/policy.yaml)', () => {
    const policy = loadPolicyFile(resolve(import.meta.dirname, '../../../examples/policy.yaml')).forTenant(
      'any',
    );
    expect(policy.version).toBe(3);
    expect(policy.rules.map((r) => r.id)).toEqual([
      'block-large-payment',
      'redact-card',
      'defer-exports',
      'approve-wires',
    ]);
  });

  it('gives each tenant its own policy, with "*" for the others', () => {
    const set = policySetFrom({
      tenants: {
        acme: { version: 2, rules: [] },
        '*': { version: 7, rules: [] },
      },
    });
    expect(set.forTenant('acme').version).toBe(2);
    expect(set.forTenant('globex').version).toBe(7);
  });

  it('names the file, the tenant and the field when a policy is invalid', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const path = join(dir, 'bad.json');
    writeFileSync(
      path,
      JSON.stringify({
        tenants: { acme: { rules: [{ id: 'r1', condition: 'tool ==', effect: 'BLOCK', reason: 'x' }] } },
      }),
    );
    expect(() => loadPolicyFile(path)).toThrow(/bad\.json.*tenants\.acme.*r1/s);
    expect(() => loadPolicyFile(join(dir, 'missing.yaml'))).toThrow(/cannot read/);
  });
});
