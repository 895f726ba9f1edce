import { describe, expect, it } from 'vitest';
import { canonicalJson } from './canonical-json.ts';

describe('canonicalJson', () => {
  it('matches the RFC 8785 §3.2.2 example (numbers, string escapes, literals, key order)', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],' +
        '"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  it('sorts keys by UTF-16 code units, not by code points (RFC 8785 §3.2.3 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    // Read the order from the text: JSON.parse would move the integer-like key "1" first again.
    const keys = [...canonicalJson(input).matchAll(/"([^"]*)":"[^"]*"/g)].map((m) => JSON.parse(`"${m[1]}"`));
    expect(keys).toEqual(['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33']);
  });

  it('sorts nested objects, keeps array order and prints no whitespace', () => {
    expect(canonicalJson({ b: [3, { z: 1, a: 2 }, 1], a: { d: null, c: 'x y' } })).toBe(
      '{"a":{"c":"x y","d":null},"b":[3,{"a":2,"z":1},1]}',
    );
  });

  it('omits undefined members and prints undefined array items as null', () => {
    expect(canonicalJson({ a: undefined, b: 1, c: [undefined, 2] })).toBe('{"b":1,"c":[null,2]}');
  });

  it('prints numbers the way JSON.stringify does, with -0 as 0', () => {
    expect(canonicalJson([0, -0, 1.5, -2, 1e21, 1e-7, 100, 0.1 + 0.2])).toBe(
      '[0,0,1.5,-2,1e+21,1e-7,100,0.30000000000000004]',
    );
  });

  it('rejects non-finite numbers instead of turning them into null', () => {
    expect(() => canonicalJson({ a: Number.NaN })).toThrow(/non-finite/);
    expect(() => canonicalJson([Number.POSITIVE_INFINITY])).toThrow(/non-finite/);
  });

  it('rejects bigint, cycles and a top-level undefined', () => {
    expect(() => canonicalJson({ a: 1n })).toThrow(/bigint/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(() => canonicalJson(cyclic)).toThrow(/cyclic/);
    expect(() => canonicalJson(undefined)).toThrow(/no JSON form/);
  });

  it('allows the same object twice when it is not a cycle', () => {
    const shared = { k: 1 };
    expect(canonicalJson({ x: shared, y: shared })).toBe('{"x":{"k":1},"y":{"k":1}}');
  });

  it('uses toJSON like JSON.stringify (dates become ISO strings)', () => {
    expect(canonicalJson({ at: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)) })).toBe(
      '{"at":"2024-01-02T03:04:05.000Z"}',
    );
  });

  it('prints top-level scalars', () => {
    expect(canonicalJson('a"b')).toBe('"a\\"b"');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(true)).toBe('true');
  });

  it('escapes every string (keys too) exactly as JSON.stringify does, on and off its fast path', () => {
    const strings = [
      'plain',
      '',
      'quote " inside',
      'back\\slash',
      'line\nbreak\ttab\u0000nul\u001fus',
      '\u007f del and \u0080 beyond',
      'emoji \ud83d\ude00 pair',
      'lone \ud800 high',
      'lone \udfff low',
      'é ü 中文 \u2028\u2029',
    ];
    for (const text of strings) {
      expect(canonicalJson(text)).toBe(JSON.stringify(text));
      expect(canonicalJson({ [text]: text })).toBe(`{${JSON.stringify(text)}:${JSON.stringify(text)}}`);
    }
  });
});
