import { describe, expect, it } from 'vitest';
import { TenantEventIds } from './audit-store.ts';

describe('TenantEventIds', () => {
  it('tells two tenants’ events with the same event id apart', () => {
    const ids = new TenantEventIds();
    expect(ids.empty).toBe(true);
    ids.add('acme', 'e-1');
    expect(ids.has('acme', 'e-1')).toBe(true);
    expect(ids.has('globex', 'e-1')).toBe(false);
    ids.add('globex', 'e-1');
    ids.delete('acme', 'e-1');
    expect(ids.has('acme', 'e-1')).toBe(false);
    expect(ids.has('globex', 'e-1')).toBe(true);
    ids.delete('globex', 'e-1');
    expect(ids.empty).toBe(true);
  });

  it('does not mistake a tenant and id that concatenate alike for the same event', () => {
    const ids = new TenantEventIds();
    ids.add('acme', '-x');
    expect(ids.has('acme-', 'x')).toBe(false);
  });
});
