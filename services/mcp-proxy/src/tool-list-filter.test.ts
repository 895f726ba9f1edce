import { describe, expect, it } from 'vitest';
import { filterToolList, OUT_OF_SCOPE_NOTE, toolsWithOutputSchema } from './tool-list-filter.ts';

const result = {
  tools: [
    { name: 'read', description: 'reads' },
    { name: 'write', description: 'writes', outputSchema: { type: 'object' } },
    { name: 'shell' },
  ],
  nextCursor: 'c2',
};

describe('filterToolList', () => {
  it('hides tools outside the scope, keeping the rest of the result', () => {
    expect(filterToolList(result, ['read'], 'hide')).toEqual({
      tools: [{ name: 'read', description: 'reads' }],
      nextCursor: 'c2',
    });
  });

  it('annotates them instead with annotate', () => {
    const annotated = filterToolList(result, ['read'], 'annotate');
    expect(annotated?.tools).toEqual([
      { name: 'read', description: 'reads' },
      { name: 'write', description: `${OUT_OF_SCOPE_NOTE} writes`, outputSchema: { type: 'object' } },
      { name: 'shell', description: OUT_OF_SCOPE_NOTE },
    ]);
  });

  it('changes nothing with none, with an empty scope (no restriction), or when every tool is in scope', () => {
    expect(filterToolList(result, ['read'], 'none')).toBeUndefined();
    expect(filterToolList(result, [], 'hide')).toBeUndefined();
    expect(filterToolList(result, ['read', 'write', 'shell'], 'hide')).toBeUndefined();
    expect(filterToolList({ not: 'a list' }, ['read'], 'hide')).toBeUndefined();
  });

  it('names the tools whose results clients validate against an outputSchema', () => {
    expect(toolsWithOutputSchema(result)).toEqual(['write']);
  });
});
