import { describe, expect, it } from 'vitest';
import { chunksOfUrlBytes, TenantEventIds } from './audit-store.ts';

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

describe('chunksOfUrlBytes', () => {
  it("keeps each chunk's URL-encoded parameter within the bound, in order, losing nothing", () => {
    const ids = Array.from({ length: 5_000 }, (_, i) => `acme:${"é'".repeat(i % 300)}${i}`);
    const chunks = chunksOfUrlBytes(ids, 64 * 1024);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.flat()).toEqual(ids);
    for (const chunk of chunks) {
      // As the client sends it: each string quoted with \\ and ' escaped, then form-encoded in the URL.
      const literal = `[${chunk.map((id) => `'${id.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`).join(',')}]`;
      expect(new URLSearchParams({ param_ids: literal }).toString().length).toBeLessThanOrEqual(
        64 * 1024 + 16,
      );
    }
    expect(chunksOfUrlBytes([], 100)).toEqual([]);
    expect(chunksOfUrlBytes(['x'.repeat(500)], 100)).toEqual([['x'.repeat(500)]]);
  });
});
