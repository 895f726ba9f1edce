import { describe, expect, it } from 'vitest';
import { SERVICES, wantedServices } from './service-names.ts';

describe('wantedServices', () => {
  it('reads THOTH_SERVICES: all is every service, a list is its names, an unknown name is refused', () => {
    expect([...wantedServices(['all'])]).toEqual([...SERVICES]);
    expect([...wantedServices(['audit-writer'])]).toEqual(['audit-writer']);
    expect(wantedServices(['api', 'baselines']).has('api')).toBe(true);
    expect(wantedServices(['audit-writer']).has('api')).toBe(false);
    expect(() => wantedServices(['api', 'auditwriter'])).toThrow(/unknown service "auditwriter"/);
  });
});
