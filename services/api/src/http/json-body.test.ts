import { describe, expect, it } from 'vitest';
import {
  MAX_BODY_MEMBERS,
  MAX_BODY_VALUES,
  MAX_JSON_DEPTH,
  parseJsonBody,
  scanJsonText,
} from './json-body.ts';

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

  it('checks a body of long digit runs in linear time (no backtracking before authentication)', () => {
    const run = '9'.repeat(308);
    const body = `[${Array.from({ length: 15_500 }, () => run).join(',')}]`;
    const started = performance.now();
    expect(Array.isArray(parseJsonBody(body))).toBe(true);
    // The regular expression this replaced took about 11 s on this body.
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('refuses a body of more keys than MAX_BODY_MEMBERS before parsing it, counting none inside strings', () => {
    const keys = (n: number) => `{${Array.from({ length: n }, (_, i) => `"k${i}":1`).join(',')}}`;
    expect(() => parseJsonBody(keys(MAX_BODY_MEMBERS + 1))).toThrow(
      expect.objectContaining({ statusCode: 413, code: 'payload_too_large' }),
    );
    expect(Object.keys(parseJsonBody(keys(1_000)) as object)).toHaveLength(1_000);
    expect(scanJsonText('{"a:b":"c:d\\":","e":[5,"1e999",true]}')).toEqual({
      tooDeep: false,
      members: 2,
      values: 5,
      maybeHugeNumber: false,
    });
    expect(scanJsonText('[1e5]').maybeHugeNumber).toBe(true);
  });

  it('refuses a number that overflows through a long mantissa and a short exponent', () => {
    expect(() => parseJsonBody(`{"n":${'9'.repeat(250)}e60}`)).toThrow(/too large/);
    expect(parseJsonBody('{"n":1.5e60}')).toEqual({ n: 1.5e60 });
  });

  it('refuses a body of more values than MAX_BODY_VALUES before parsing it', () => {
    expect(() => parseJsonBody(`[${'{},'.repeat(MAX_BODY_VALUES)}{}]`)).toThrow(
      expect.objectContaining({ statusCode: 413, code: 'payload_too_large' }),
    );
  });
});
