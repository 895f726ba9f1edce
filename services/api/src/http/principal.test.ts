import { describe, expect, it } from 'vitest';
import { principalIdentity, principalLabel, principalRecord, roleAllows, roleOf } from './principal.ts';

describe('principals', () => {
  it('a person’s role is the highest their groups map to; no mapped group, no role', () => {
    const roles = { soc: 'viewer', payments: 'approver', platform: 'admin' } as const;
    expect(roleOf(['soc', 'payments'], roles)).toBe('approver');
    expect(roleOf(['platform', 'soc'], roles)).toBe('admin');
    expect(roleOf(['contractors'], roles)).toBeUndefined();
    expect(roleAllows('admin', 'approver')).toBe(true);
    expect(roleAllows('viewer', 'approver')).toBe(false);
  });

  it('records a person by issuer + subject and email, a key by id and name', () => {
    const person = {
      kind: 'person' as const,
      issuer: 'https://idp',
      subject: 'u1',
      email: 'a@x.io',
      name: 'A',
      groups: [],
      tenantId: 't',
      role: 'approver' as const,
    };
    expect(principalLabel(person)).toBe('a@x.io (https://idp)');
    expect(principalRecord(person)).toEqual({
      kind: 'person',
      issuer: 'https://idp',
      subject: 'u1',
      email: 'a@x.io',
      key_id: null,
      name: 'A',
    });
    const key = { kind: 'key' as const, keyId: 'key_1', name: 'ops', tenantId: 't' };
    expect(principalLabel(key)).toBe('ops (key_1)');
    expect(principalIdentity(principalRecord(key))).toBe('key:key_1');
    // The same person from another IdP is another person.
    expect(principalIdentity(principalRecord(person))).not.toBe(
      principalIdentity(principalRecord({ ...person, issuer: 'https://other' })),
    );
    expect(principalLabel('admin-token')).toBe('admin-token');
  });
});
