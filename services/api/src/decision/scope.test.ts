import { describe, expect, it } from 'vitest';
import { isInScope, normalizeScope } from './scope.ts';

describe('normalizeScope', () => {
  it('strips the tool_call: prefix, trims, drops empties and dedupes in order', () => {
    expect(
      normalizeScope(['tool_call:search', ' send_email ', '', '  ', 'search', 'tool_call: pay', 'pay']),
    ).toEqual(['search', 'send_email', 'pay']);
  });

  it('strips only a leading prefix and keeps other colons', () => {
    expect(normalizeScope(['read:data', 'x_tool_call:y', 'tool_call:'])).toEqual([
      'read:data',
      'x_tool_call:y',
    ]);
  });
});

describe('isInScope', () => {
  it('matches exact tool names only', () => {
    expect(isInScope('search', ['search', 'pay'])).toBe(true);
    expect(isInScope('Search', ['search'])).toBe(false);
    expect(isInScope('search_web', ['search'])).toBe(false);
  });

  it('treats an empty scope as no restriction', () => {
    expect(isInScope('anything', [])).toBe(true);
  });
});
