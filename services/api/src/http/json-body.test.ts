import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJsonBody } from './json-body.ts';

describe('parseJsonBody', () => {
  it('parses ordinary JSON and treats an empty body as absent', () => {
    expect(parseJsonBody('{"a":[1,{"b":null}]}')).toEqual({ a: [1, { b: null }] });
    expect(parseJsonBody('  ')).toBeUndefined();
  });

  it('refuses deep nesting, non-finite numbers and invalid JSON with a 400', () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    expect(() => parseJsonBody(deep)).toThrow(/nested deeper/);
    expect(() => parseJsonBody(`${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`)).not.toThrow();
    expect(() => parseJsonBody('{"n":1e309}')).toThrow(/too large/);
    expect(() => parseJsonBody('{"n":-1e309}')).toThrow(/too large/);
    expect(() => parseJsonBody('[1E+309]')).toThrow(/too large/);
    expect(() => parseJsonBody('[0.5e0400]')).toThrow(/too large/);
    expect(() => parseJsonBody(`[${'9'.repeat(309)}]`)).toThrow(/too large/);
    // Look-alikes are parsed and checked, not refused: a finite big number, an exponent inside a string.
    expect(parseJsonBody('{"n":1.5e308,"s":"e999"}')).toEqual({ n: 1.5e308, s: 'e999' });
    expect(() => parseJsonBody('{"n":')).toThrow(
      expect.objectContaining({ statusCode: 400, code: 'invalid_json' }),
    );
  });
});
